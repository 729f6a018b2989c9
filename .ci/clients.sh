#!/usr/bin/env bash
# Client checks against the real server binary: starts the server (with its
# embedded Amazon Pay simulator) on a free loopback port, then runs, each
# under its own header, the Go storefront-module check, the TypeScript
# client's tests, the contract with other toolchains (Debian's and a current
# protoc, @grpc/proto-loader), the Python client's tests and the README
# examples. Test suites prepare checkout sessions with $DEMOCHECKOUT (the
# democheckout command bound to this server's simulator); the server is
# stopped at the end. Called by .ci/run; installs the Debian packages it
# needs when they are missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
offset="${SECTION_OFFSET:-0}"
section() {
	printf '\n==== %s (at %ds) ====\n' "$*" "$((offset + SECONDS))"
}

work="$(mktemp -d)"
pid=""
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "clients: FAIL: $*" >&2
	if [[ -f "$work/server.log" ]]; then
		echo "--- server log (last 50 lines) ---" >&2
		tail -n 50 "$work/server.log" >&2
	fi
	exit 1
}

section "client test server (server binary, embedded simulator)"
go build -o "$work/server" ./server
go build -o "$work/democheckout-bin" ./internal/cmd/democheckout
# Short pending delays so pending authorizations settle within a test.
DATA_DIR="$work/data" LISTEN_ADDR=127.0.0.1:0 SIMULATOR_ADDR=127.0.0.1:0 \
	SIMULATOR_PENDING_DELAY=1s TRACKER_FIRST_POLL=500ms TRACKER_MAX_INTERVAL=1s \
	"$work/server" >"$work/server.log" 2>&1 &
pid=$!
addr="" sim_url=""
for _ in $(seq 1 300); do
	addr="$(sed -n 's/.*"msg":"serving","addr":"\([^"]*\)".*/\1/p' "$work/server.log" | head -n1)"
	sim_url="$(sed -n 's/.*"simulator_url":"\([^"]*\)".*/\1/p' "$work/server.log" | head -n1)"
	[[ -n "$addr" && -n "$sim_url" ]] && break
	kill -0 "$pid" 2>/dev/null || fail "server exited before serving"
	sleep 0.1
done
[[ -n "$addr" && -n "$sim_url" ]] || fail "server did not log its addresses within 30s"
cat >"$work/democheckout" <<SH
#!/usr/bin/env bash
exec "$work/democheckout-bin" -data-dir "$work/data" -simulator-addr "${sim_url#https://}" "\$@"
SH
chmod +x "$work/democheckout"
export PAYMENTCOMPLETION_ADDR="$addr" DEMOCHECKOUT="$work/democheckout"
"$DEMOCHECKOUT" -scenario none >/dev/null || fail "democheckout cannot reach the simulator"
echo "server at $addr, simulator at $sim_url"

section "Go: a storefront module importing gen/ with released core modules"
bash .ci/go-consumer.sh "$work/go-consumer"

section "TypeScript client (clients/ts)"
bash clients/ts/ci.sh

section "Python client (clients/python, Debian's protoc and grpc packages)"
bash clients/python/ci.sh

section "contract with a current protoc, Debian's protoc and @grpc/proto-loader (interop/contract)"
bash interop/contract/run.sh

echo
echo "server log: $(grep -c '"level":"ERROR"' "$work/server.log" || true) error lines"
