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
## Exit codes scripts/regress.sh's: 0 pass, 1 regression, 2 cannot judge or broken (as make's only goal).
REGRESS_ENV = BASE="$(BASE)" ROUNDS="$(ROUNDS)" REGRESS_PROFILE="$(REGRESS_PROFILE)" REGRESS_SCENARIOS="$(REGRESS_SCENARIOS)" \
	REGRESS_SERVER_ENV="$(REGRESS_SERVER_ENV)" REGRESS_HARNESS="$(REGRESS_HARNESS)" REGRESS_OUT="$(REGRESS_OUT)" \
	REGRESS_RUN_ARGS="$(REGRESS_RUN_ARGS)" REGRESS_INVALID_RETRIES="$(REGRESS_INVALID_RETRIES)"

# The exit code passes through as the root Makefile's "Exit codes" explains.
regress::
	$(RUN)scripts/install-deps.sh postgresql jq
	$(call tool,$(REGRESS_ENV) scripts/regress.sh)
regress::
	$(tool_exit)

## lint-workflows: actionlint (pinned, installed into .bin) on .github/workflows/*.yml.
lint-workflows: $(ACTIONLINT)
	$(ACTIONLINT) -no-color .github/workflows/*.yml

$(ACTIONLINT):
	GOBIN=$(CURDIR)/.bin $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
