# Regression comparison: the working tree against a base commit, and the CI workflow's lint.
# See docs/compare.md.

ACTIONLINT_VERSION := v1.7.12
ACTIONLINT := $(CURDIR)/.bin/actionlint

.PHONY: regress lint-workflows

## regress: bench the working tree against BASE (default: merge-base with origin/main) in ROUNDS
## alternating rounds on one throwaway PostgreSQL, then `loadtest compare` (exit 1 on regression).
## Variables: BASE, ROUNDS (4), REGRESS_PROFILE (quick), REGRESS_SCENARIOS, REGRESS_SERVER_ENV
## (current side only, e.g. BENCH_EXTRA_LATENCY=5ms), REGRESS_HARNESS (current|base), REGRESS_OUT.
regress:
	BASE="$(BASE)" ROUNDS="$(ROUNDS)" REGRESS_PROFILE="$(REGRESS_PROFILE)" REGRESS_SCENARIOS="$(REGRESS_SCENARIOS)" \
	REGRESS_SERVER_ENV="$(REGRESS_SERVER_ENV)" REGRESS_HARNESS="$(REGRESS_HARNESS)" REGRESS_OUT="$(REGRESS_OUT)" \
	REGRESS_RUN_ARGS="$(REGRESS_RUN_ARGS)" scripts/regress.sh

## lint-workflows: actionlint (pinned, installed into .bin) on .github/workflows/*.yml.
lint-workflows: $(ACTIONLINT)
	$(ACTIONLINT) -no-color .github/workflows/*.yml

$(ACTIONLINT):
	GOBIN=$(CURDIR)/.bin $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
