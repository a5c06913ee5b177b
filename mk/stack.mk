# Observability: the Docker-free local stack (PostgreSQL, Jaeger, Prometheus as processes on
# 127.0.0.1), the compose stack, the dashboards generated from Go, and the proof that ties them
# to what the server and harness really emit. See docs/observability.md.
.PHONY: stack stack-down stack-status up down dashboards proof compose-check jaeger

## stack: start PostgreSQL, Jaeger and Prometheus on loopback; writes .stack/env for `make bench`.
stack:
	scripts/install-deps.sh postgresql prometheus
	scripts/stack.sh up

## stack-down: stop what `make stack` started (by PID) and remove .stack/.
stack-down:
	scripts/stack.sh down

## stack-status: whether each process `make stack` started still runs.
stack-status:
	scripts/stack.sh status

## jaeger: build .bin/jaeger from the separate tools/jaeger module (skipped when up to date).
jaeger:
	scripts/build-jaeger.sh

## up: the same stack plus Grafana and the server in Docker (docker-compose.yml).
up:
	docker compose up -d --build --wait

## down: stop and remove what `make up` started.
down:
	docker compose down

## dashboards: regenerate dashboards/json/ from dashboards/*.go.
dashboards:
	$(GO) run ./dashboards/gen -out dashboards/json

## compose-check: parse docker-compose.yml with the compose-spec loader, check mounted files exist
## and that the server's admin port (pprof) is reachable where Prometheus scrapes it, nowhere else.
compose-check:
	cd tools/composecheck && GOWORK=off $(GO) test -count=1 ./...

## proof: local stack + quick bench, then every dashboard query returns data and the slowest
## requests' traces are in Jaeger with their PostgreSQL spans. CI=true: a missing tool fails.
proof: build
	scripts/install-deps.sh postgresql prometheus
	scripts/proof.sh
