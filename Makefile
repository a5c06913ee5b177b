# Every target that needs PostgreSQL goes through scripts/with-postgres.sh, which starts a
# throwaway cluster (or uses DATABASE_URL / TEST_DATABASE_URL when set) and removes it after.
SHELL := /bin/bash
GO ?= go
BIN := bin

.PHONY: all build test vet run bench bench-quick clean help

all: build

## help: list the targets with what each does (the `## target:` comments of Makefile and mk/*.mk).
help:
	@awk '/^## [a-z][a-z0-9-]*:/ { sub(/^## /, ""); split($$0, p, ":"); t = p[1]; sub(/^[^:]*: */, ""); printf "  %-16s %s\n", t, $$0; next } \
	     /^## / && t != "" { sub(/^## /, ""); printf "  %-16s %s\n", "", $$0; next } { t = "" }' Makefile $(sort $(wildcard mk/*.mk))

# -buildvcs=auto overrides a GOFLAGS=-buildvcs=false in the environment, so that reports and
# server_build_info name the commit they measured (and stays quiet outside a git checkout).
BUILDFLAGS ?= -buildvcs=auto

build:
	$(GO) build $(BUILDFLAGS) -o $(BIN)/server ./server
	$(GO) build $(BUILDFLAGS) -o $(BIN)/loadtest ./loadtest

vet:
	$(GO) vet ./...

## test: vet; every Go test against a throwaway PostgreSQL (fuzz seed corpora included); the
## compose file through the compose-spec loader; the Kubernetes manifests decoded strictly into
## the API types; the CI workflow through actionlint; and the
## proof that every dashboard panel has data and the slowest requests' traces are in Jaeger.
# -p 1: one test binary at a time. The harness's tests time real requests and compare runs; a
# second package's load beside them (16 runnable threads on 2 cores) stalled the server for
# 50-200 ms at a time, too briefly to show in any check over a second or more, and a healthy
# run's p99 went from 4 ms to 120 ms. A test that times things needs the machine to itself, as a
# bench does.
test: vet
	scripts/with-postgres.sh $(GO) test -count=1 -p 1 ./...
	$(MAKE) --no-print-directory compose-check k8s-check lint-workflows proof

clean:
	rm -rf $(BIN) .bin

# Each area keeps its targets in its own file: mk/server.mk, mk/bench.mk, mk/stack.mk, ...
include $(wildcard mk/*.mk)
