# Server targets. `build` and `test` live in the root Makefile.

# A development-only secret so that `make run` works out of the box; set JWT_SECRET to override.
SERVER_DEV_SECRET ?= dev-only-jwt-secret-0123456789abcdef

.PHONY: run token

## run: the items server on 127.0.0.1:8080 (admin 127.0.0.1:6060) against a throwaway PostgreSQL,
## BENCH_DELAY=on, in the foreground; prints a token and a curl line for a second terminal first.
## Ctrl-C drains and stops it.
run:
	scripts/install-deps.sh postgresql
	$(GO) build -o $(BIN)/server ./server
	JWT_SECRET="$${JWT_SECRET:-$(SERVER_DEV_SECRET)}" BENCH_DELAY="$${BENCH_DELAY:-on}" ADDR="$${ADDR:-127.0.0.1:8080}" \
		scripts/with-postgres.sh sh -c 'printf "%s\n" "in a second terminal:" "  export TOKEN=$$($(BIN)/server token -sub dev)" \
			"  curl -s -H \"Authorization: Bearer \$$TOKEN\" \"http://$$ADDR/api/v1/items?per_page=5\"" >&2; exec $(BIN)/server'

## token: print a bearer token for the running `make run` server (same JWT_SECRET default).
token:
	@$(GO) build -o $(BIN)/server ./server
	@JWT_SECRET="$${JWT_SECRET:-$(SERVER_DEV_SECRET)}" $(BIN)/server token
