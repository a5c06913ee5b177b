# syntax=docker/dockerfile:1
# Multi-stage build for the items server (target `server`, the default) and the harness (target
# `loadtest`). Both final images are FROM scratch: static binaries, no shell, no package manager,
# a numeric non-root user. The server image's HEALTHCHECK uses a 40-line Go checker
# (deploy/healthcheck) because scratch has no curl or wget.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO off: static binaries that run on scratch. -trimpath: no build paths in the binary.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/server ./server && \
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/loadtest ./loadtest && \
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/healthcheck ./deploy/healthcheck && \
	mkdir -p /out/results

FROM scratch AS loadtest
COPY --from=build /out/loadtest /loadtest
# The run folders go to /results (a bind mount in docker-compose.yml); owned by the image user
# so that a named volume mounted there is writable too.
COPY --from=build --chown=65532:65532 /out/results /results
USER 65532:65532
WORKDIR /results
ENTRYPOINT ["/loadtest"]
CMD ["run", "-h"]

FROM scratch AS server
COPY --from=build /out/server /server
COPY --from=build /out/healthcheck /healthcheck
USER 65532:65532
# Inside a container the listeners must not be loopback-only: Prometheus scrapes the admin one
# from its own container. docker-compose.yml publishes both on the host's 127.0.0.1 only. The
# admin port (pprof, no authentication) is not EXPOSEd, so `docker run -P` leaves it unpublished.
ENV ADDR=:8080 ADMIN_ADDR=:6060
EXPOSE 8080
# /readyz answers 503 while draining, so the container turns unhealthy as soon as SIGTERM lands.
HEALTHCHECK --interval=5s --timeout=3s --start-period=15s --retries=3 \
	CMD ["/healthcheck", "http://127.0.0.1:6060/readyz"]
ENTRYPOINT ["/server"]
