# Regression comparison: the working tree against a base commit, and the CI workflow's lint.
# See docs/compare.md.

ACTIONLINT_VERSION := v1.7.12
ACTIONLINT := $(CURDIR)/.bin/actionlint

.PHONY: regress lint-workflows

## regress: bench the working tree against BASE (default: merge-base with origin/main) in ROUNDS
## alternating rounds on one throwaway PostgreSQL, then `loadtest compare`.
## Variables: BASE, ROUNDS (4), REGRESS_PROFILE (quick), REGRESS_SCENARIOS, REGRESS_SERVER_ENV
## (current side only, e.g. BENCH_EXTRA_CPU=2ms), REGRESS_HARNESS (current|base), REGRESS_OUT,
## REGRESS_INVALID_RETRIES (2).
## Exit codes, as scripts/regress.sh's: 0 pass, 1 regression, 2 cannot judge or broken.
REGRESS_ENV = BASE="$(BASE)" ROUNDS="$(ROUNDS)" REGRESS_PROFILE="$(REGRESS_PROFILE)" REGRESS_SCENARIOS="$(REGRESS_SCENARIOS)" \
	REGRESS_SERVER_ENV="$(REGRESS_SERVER_ENV)" REGRESS_HARNESS="$(REGRESS_HARNESS)" REGRESS_OUT="$(REGRESS_OUT)" \
	REGRESS_RUN_ARGS="$(REGRESS_RUN_ARGS)" REGRESS_INVALID_RETRIES="$(REGRESS_INVALID_RETRIES)"

# make exits 2 when a recipe fails, whatever code the recipe returned, so a recipe cannot pass
# a regression's 1 through. What make does exit 1 for is a question run (-q) whose goal is out
# of date. So when regress is the only goal (and this is no dry run), the script runs while
# the makefile is read, its output on stderr: a regression adds -q (the phony goal is out of
# date: exit 1), cannot judge or broken stops make with 2, a pass leaves the recipe to say so.
ifeq ($(MAKECMDGOALS)$(findstring n,$(firstword -$(MAKEFLAGS))),regress)
regress_rc := $(shell $(REGRESS_ENV) scripts/regress.sh >&2; echo $$?)
ifeq ($(regress_rc),1)
$(info make regress: scripts/regress.sh exited 1: REGRESSION)
MAKEFLAGS += -q
else ifneq ($(regress_rc),0)
$(error scripts/regress.sh exited $(regress_rc): cannot judge or broken)
endif
regress:
	@echo "make regress: scripts/regress.sh exited 0: no significant regression"
else
# Beside other goals the recipe runs it, and make turns a 1 into its 2: read <out>/exit-code.
regress:
	@rc=0; $(REGRESS_ENV) scripts/regress.sh || rc=$$?; \
	case $$rc in 0) ;; 1) echo "make regress: scripts/regress.sh exited 1: REGRESSION (make reports it as 2 beside other goals)" >&2 ;; \
	*) echo "make regress: scripts/regress.sh exited $$rc: cannot judge or broken" >&2 ;; esac; exit $$rc
endif

## lint-workflows: actionlint (pinned, installed into .bin) on .github/workflows/*.yml.
lint-workflows: $(ACTIONLINT)
	$(ACTIONLINT) -no-color .github/workflows/*.yml

$(ACTIONLINT):
	GOBIN=$(CURDIR)/.bin $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
