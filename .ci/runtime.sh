#!/usr/bin/env bash
# The server binary's runtime behaviour as an operator meets it, with the
# commands the "Probes and shutdown" section of docs/operations.md shows: migrate status
# and up on a new SQLite database, MIGRATE_AT_START=false refusing a schema
# that is behind, healthcheck over HTTP and gRPC, readiness NOT_SERVING and
# liveness SERVING during the drain delay after SIGTERM, exit 0, and no
# embedded simulator on an address others can reach.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

name=runtime
# shellcheck source=.ci/lib/serverwork.bash
source .ci/lib/serverwork.bash

go build -o "$work/bin/" ./server
server="$work/bin/server"
export DATA_DIR="$work/data" LISTEN_ADDR=127.0.0.1:0 SIMULATOR_ADDR=127.0.0.1:0 METRICS_ADDR=127.0.0.1:0

status=0
"$server" migrate status >"$work/out" || status=$?
[[ "$status" -eq 3 ]] || fail "migrate status on a new database exited $status, want 3: $(cat "$work/out")"
grep -q '^pending  0001_payments.sql' "$work/out" || fail "migrate status lists no pending migration"

status=0
MIGRATE_AT_START=false "$server" >"$work/out" 2>&1 || status=$?
[[ "$status" -eq 1 ]] && grep -q 'server migrate up' "$work/out" ||
	fail "MIGRATE_AT_START=false on a new database: exit $status: $(cat "$work/out")"

"$server" migrate up >"$work/out" || fail "migrate up: $(cat "$work/out")"
grep -q '^applied 0001_payments.sql' "$work/out" || fail "migrate up applied nothing: $(cat "$work/out")"
"$server" migrate status >"$work/out" || fail "migrate status after up: $(cat "$work/out")"
grep -q 'schema current' "$work/out" || fail "migrate status after up is not current"
echo "runtime: migrate status, up and MIGRATE_AT_START=false as documented"

status=0
LISTEN_ADDR=0.0.0.0:0 ALLOW_PLAINTEXT=true "$server" >"$work/out" 2>&1 || status=$?
[[ "$status" -eq 2 ]] && grep -q AMAZON_PAY_PUBLIC_KEY_ID "$work/out" ||
	fail "no credentials on 0.0.0.0: exit $status: $(cat "$work/out")"
echo "runtime: embedded simulator refused on a non-loopback address"

MIGRATE_AT_START=false SHUTDOWN_DRAIN_DELAY=3s "$server" >"$work/server.log" 2>&1 &
pid=$!
addr="" maddr=""
for _ in $(seq 1 300); do
	addr="$(sed -n 's/.*"msg":"serving","addr":"\([^"]*\)".*/\1/p' "$work/server.log" | head -n1)"
	maddr="$(sed -n 's/.*"msg":"serving metrics","metrics_addr":"\([^"]*\)".*/\1/p' "$work/server.log" | head -n1)"
	[[ -n "$addr" && -n "$maddr" ]] && break
	kill -0 "$pid" 2>/dev/null || fail "server exited before serving"
	sleep 0.1
done
[[ -n "$addr" && -n "$maddr" ]] || fail "server did not log its addresses within 30s"
grep -q '"amazon_pay_mode":"simulator"' "$work/server.log" || fail "the start log does not name the mode"

"$server" healthcheck -metrics-addr "$maddr" || fail "healthcheck over /readyz"
"$server" healthcheck liveness -metrics-addr "$maddr" || fail "healthcheck over /livez"
METRICS_ADDR= "$server" healthcheck -listen-addr "$addr" || fail "healthcheck over gRPC"

kill -TERM "$pid"
drained=""
for _ in $(seq 1 20); do
	if ! "$server" healthcheck -metrics-addr "$maddr" >/dev/null 2>&1; then
		drained=1
		break
	fi
	sleep 0.1
done
[[ -n "$drained" ]] || fail "readiness still SERVING 2s after SIGTERM"
"$server" healthcheck liveness -metrics-addr "$maddr" || fail "liveness not SERVING during the drain delay"
METRICS_ADDR= "$server" healthcheck liveness -listen-addr "$addr" || fail "the gRPC listener refused during the drain delay"
echo "runtime: after SIGTERM readiness NOT_SERVING, liveness SERVING, gRPC still accepting"

status=0
wait "$pid" || status=$?
pid=""
[[ "$status" -eq 0 ]] || fail "server exited with $status after SIGTERM"
echo "runtime: exit 0 after the drain delay"
