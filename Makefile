# Every target that needs PostgreSQL goes through scripts/with-postgres.sh, which starts a
# throwaway cluster (or uses DATABASE_URL / TEST_DATABASE_URL when set) and removes it after.
# Every target that needs a tool outside Go calls scripts/install-deps.sh first, which installs
# what is missing (as root) or names the command to run and exits 2.
SHELL := /bin/bash
GO ?= go
BIN := bin

.PHONY: all build vet test test-go checks vegeta run bench bench-quick clean help

all: build

## help: list the targets with what each does (the `## target:` comments of Makefile and mk/*.mk).
help:
	@awk '/^## [a-z][a-z0-9-]*:/ { sub(/^## /, ""); split($$0, p, ":"); t = p[1]; sub(/^[^:]*: */, ""); printf "  %-17s %s\n", t, $$0; next } \
	     /^## / && t != "" { sub(/^## /, ""); printf "  %-17s %s\n", "", $$0; next } { t = "" }' Makefile $(sort $(wildcard mk/*.mk))

# Exit codes. make exits 2 whenever a recipe fails, whatever code the recipe returned; the one
# status it exits 1 with is a question run's (-q) "a goal is out of date". So when make's only
# goal is one of EXIT_GOALS and no -n, -t or -q was given, the makefile turns on -q: recipe lines
# prefixed $(RUN) ('+' then) still run, $(call tool,...) records the tool's exit code, and
# $(tool_exit), the goal's second :: rule, is a command only when that code was 1, which -q
# answers by exiting 1 without running it. A 2 fails the tool's line: make's own 2. Beside other
# goals (`make build bench`) nothing changes: make reports the tool's 1 and 2 alike as 2.
EXIT_GOALS := bench bench-quick bench-httpbin bench-soak regress
make_flags := $(firstword -$(MAKEFLAGS))
ifneq ($(and $(filter 1,$(words $(MAKECMDGOALS))),$(filter $(EXIT_GOALS),$(MAKECMDGOALS))),)
ifeq ($(findstring n,$(make_flags))$(findstring t,$(make_flags))$(findstring q,$(make_flags)),)
EXIT_THROUGH := 1
MAKEFLAGS += -q
endif
endif
RUN := $(if $(EXIT_THROUGH),+)
# $(call tool,COMMAND): the recipe line of a tool whose exit code means something. The -q is
# make's own business: a make the tool starts must not inherit it.
tool = $(RUN)@rc=0; $(if $(EXIT_THROUGH),MAKEFLAGS= MFLAGS= )$(1) || rc=$$?; \
	mkdir -p $(BIN) && echo $$rc >$(BIN)/.exit-$@; $(if $(EXIT_THROUGH),[ $$rc = 1 ] ||) exit $$rc
tool_exit = $(if $(EXIT_THROUGH),$(if $(filter 1,$(file <$(BIN)/.exit-$@)),@exit 1))

# -buildvcs=auto overrides a GOFLAGS=-buildvcs=false in the environment, so that reports and
# server_build_info name the commit they measured (and stays quiet outside a git checkout).
BUILDFLAGS ?= -buildvcs=auto

## build: bin/server and bin/loadtest.
build:
	$(RUN)$(GO) build $(BUILDFLAGS) -o $(BIN)/server ./server
	$(RUN)$(GO) build $(BUILDFLAGS) -o $(BIN)/loadtest ./loadtest

## vegeta: bin/vegeta, the vegeta CLI at go.mod's version (`bin/vegeta report bench-results/latest/steady.bin`).
## The first time it downloads the CLI's own modules from the module proxy.
vegeta: $(BIN)/vegeta
$(BIN)/vegeta: go.mod
	GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/tsenart/vegeta/v12@$$($(GO) list -m -f '{{.Version}}' github.com/tsenart/vegeta/v12)

## vet: go vet on the module.
vet:
	$(GO) vet ./...

## test: the one command before a commit: vet, then test-go, checks and proof in turn (each
## runs alone too). Needs PostgreSQL ≥ 14 and Debian's prometheus (installed when root and
## missing), and the network the first time (actionlint, Jaeger, the checkers' modules).
test: vet
	scripts/install-deps.sh postgresql prometheus
	@$(MAKE) --no-print-directory test-go
	@$(MAKE) --no-print-directory checks
	@$(MAKE) --no-print-directory proof

## test-go: every Go test against a throwaway PostgreSQL (fuzz seed corpora included).
# -p 1: one test binary at a time. The harness's tests time real requests and compare runs; a
# second package's load beside them (16 runnable threads on 2 cores) stalled the server for
# 50-200 ms at a time, too briefly to show in any check over a second or more, and a healthy
# run's p99 went from 4 ms to 120 ms. A test that times things needs the machine to itself, as a
# bench does.
test-go:
	scripts/install-deps.sh postgresql
	scripts/with-postgres.sh $(GO) test -count=1 -p 1 ./...

## checks: the static checks: compose-check, k8s-check, lint-workflows.
checks: compose-check k8s-check lint-workflows

## clean: remove bin/ and .bin/ (built binaries and pinned tools).
clean:
	rm -rf $(BIN) .bin

# Each area keeps its targets in its own file: mk/server.mk, mk/bench.mk, mk/stack.mk, ...
include $(wildcard mk/*.mk)
