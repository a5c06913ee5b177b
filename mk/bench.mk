# The bench harness: build both binaries, run the scenarios against a throwaway
# PostgreSQL (or DATABASE_URL when set), write bench-results/<UTC time>/ and print the verdicts.
# See docs/harness.md.
.PHONY: bench bench-quick bench-distributed bench-example bench-httpbin readme-table bench-soak

# When the local observability stack runs (`make stack` writes .stack/env), the bench exports
# the server's traces to it, links traces in Jaeger and serves the harness metrics it scrapes.
# Every request is sent sampled (-trace-sample 1): Jaeger's tail sampling decides what it keeps
# once each request has ended (docs/observability.md). A -trace-sample in BENCH_ARGS still wins.
STACK_ENV := .stack/env
bench_stack_args = $(shell [ -f $(STACK_ENV) ] && . ./$(STACK_ENV) && \
	printf '%s ' $${OTEL_ENDPOINT:+-otel-endpoint $$OTEL_ENDPOINT -trace-sample 1} $${JAEGER_URL:+-jaeger-url $$JAEGER_URL} \
	$${HARNESS_METRICS_ADDR:+-metrics-addr $$HARNESS_METRICS_ADDR} $${PROM_SD_FILE:+-prom-sd-file $$PROM_SD_FILE})

# The items server's profile: its request mix and held requests, as any service's targets files.
ITEMS_TARGETS := -targets loadtest/internal/items/requests.http -held-targets loadtest/internal/items/held.http

## bench: every default scenario (≤ 3 minutes); extra `loadtest run` flags in BENCH_ARGS.
## Exit code loadtest run's: 0 every scenario passed, 1 a verdict failed or was invalid, 2 bad
## input or set-up (as make's only goal; beside others make says 2 for both 1 and 2).
bench:: build
	$(RUN)scripts/install-deps.sh postgresql
	$(call tool,scripts/with-postgres.sh $(BIN)/loadtest run -server-bin $(BIN)/server $(ITEMS_TARGETS) $(bench_stack_args) $(BENCH_ARGS))
bench::
	$(tool_exit)

## bench-quick: the quick profile (about 1 minute with the build and PostgreSQL, CI smoke); exit codes as bench's.
bench-quick:: build
	$(RUN)scripts/install-deps.sh postgresql
	$(call tool,scripts/with-postgres.sh $(BIN)/loadtest run -profile quick -server-bin $(BIN)/server $(ITEMS_TARGETS) $(bench_stack_args) $(BENCH_ARGS))
bench-quick::
	$(tool_exit)

## readme-table: rewrite README.md's sample verdict table from bench-results/latest (RUN_DIR=DIR for
## another run folder): a default-profile run of a clean tree, e.g. right after `make bench`.
readme-table: build
	scripts/install-deps.sh jq
	scripts/readme-table.sh $(RUN_DIR)

## bench-distributed: the scenarios with the attack spread over WORKERS (default 3) `loadtest
## worker` processes, each in its own network namespace when this machine allows (else on
## loopback), and the coordinator; extra `loadtest run` flags in BENCH_ARGS. docs/distributed.md.
WORKERS ?= 3
bench-distributed: build
	scripts/install-deps.sh postgresql
	scripts/with-postgres.sh scripts/bench-distributed.sh $(WORKERS) $(bench_stack_args) $(BENCH_ARGS)

## bench-example: every default scenario against examples/notes, a service of a user's own
## started by -server-cmd (no database, no code of the harness in it); docs/harness.md.
EXAMPLE_TARGETS := examples/notes/targets
bench-example: build
	$(GO) build $(BUILDFLAGS) -o $(BIN)/notes ./examples/notes
	$(BIN)/loadtest run -server-cmd '$(BIN)/notes -addr 127.0.0.1:{port}' \
		-targets $(EXAMPLE_TARGETS)/requests.http -held-targets $(EXAMPLE_TARGETS)/held.http $(BENCH_ARGS)

## bench-httpbin: every default scenario against go-httpbin, a third-party service installed
## pinned into .bin and started by -server-cmd (cancel is INVALID: it exposes no server-side
## signal); examples/httpbin/README.md.
HTTPBIN_VERSION := v2.26.0
HTTPBIN := $(CURDIR)/.bin/go-httpbin-$(HTTPBIN_VERSION)
bench-httpbin:: build $(HTTPBIN)
	$(call tool,$(BIN)/loadtest run -server-cmd '$(HTTPBIN) -host 127.0.0.1 -port {port} -log-level OFF' \
		-targets examples/httpbin/requests.http -held-targets examples/httpbin/held.http $(BENCH_ARGS))
bench-httpbin::
	$(tool_exit)

$(HTTPBIN):
	$(RUN)mkdir -p $(@D)/httpbin-$(HTTPBIN_VERSION)
	$(RUN)GOBIN=$(@D)/httpbin-$(HTTPBIN_VERSION) $(GO) install github.com/mccutchen/go-httpbin/v2/cmd/go-httpbin@$(HTTPBIN_VERSION)
	$(RUN)mv $(@D)/httpbin-$(HTTPBIN_VERSION)/go-httpbin $@ && rmdir $(@D)/httpbin-$(HTTPBIN_VERSION)

## bench-soak: the soak scenario alone (30 minutes by default: -soak-duration); its verdict is on
## each resource's trend per hour. Quick form (2 min, limits sized to it):
## `make bench-soak BENCH_ARGS='-profile quick -rate 100'`; exit codes as bench's.
bench-soak:: build
	$(RUN)scripts/install-deps.sh postgresql
	$(call tool,scripts/with-postgres.sh $(BIN)/loadtest run -scenarios soak -server-bin $(BIN)/server $(ITEMS_TARGETS) $(bench_stack_args) $(BENCH_ARGS))
bench-soak::
	$(tool_exit)
