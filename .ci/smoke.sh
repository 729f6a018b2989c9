#!/usr/bin/env bash
# Smoke test of the real server binary: builds it, starts it on a free
# loopback port with its data in a temporary directory, waits until health
# reports SERVING, calls it with the pinned grpcurl (health check, list,
# describe, a request that fails validation), then sends SIGTERM and
# requires a clean exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

name=smoke
# shellcheck source=.ci/lib/serverwork.bash
source .ci/lib/serverwork.bash

echo "smoke: building server and grpcurl"
go build -o "$work/server" ./server
# grpcurl is pinned in its own module file so it never moves the main
# module's or the buf tools' dependencies.
go build -modfile=tools/grpcurl/go.mod -o "$work/grpcurl" github.com/fullstorydev/grpcurl/cmd/grpcurl

# Port 0 everywhere: the server logs the address it got.
DATA_DIR="$work/data" LISTEN_ADDR=127.0.0.1:0 SIMULATOR_ADDR=127.0.0.1:0 \
	"$work/server" >"$work/server.log" 2>&1 &
pid=$!

addr=""
for _ in $(seq 1 300); do
	addr="$(sed -n 's/.*"msg":"serving","addr":"\([^"]*\)".*/\1/p' "$work/server.log" | head -n1)"
	[[ -n "$addr" ]] && break
	kill -0 "$pid" 2>/dev/null || fail "server exited before serving"
	sleep 0.1
done
[[ -n "$addr" ]] || fail "server did not log its address within 30s"
echo "smoke: server at $addr"

grpcurl() { "$work/grpcurl" -plaintext "$@"; }

health=""
for _ in $(seq 1 100); do
	health="$(grpcurl -d '{"service":"paymentcompletion.v1.PaymentCompletionService"}' "$addr" grpc.health.v1.Health/Check 2>&1 || true)"
	grep -q '"SERVING"' <<<"$health" && break
	sleep 0.1
done
grep -q '"SERVING"' <<<"$health" || fail "health never SERVING: $health"
echo "smoke: health SERVING"

services="$(grpcurl "$addr" list)" || fail "list failed"
for want in paymentcompletion.v1.PaymentCompletionService grpc.health.v1.Health; do
	grep -qx "$want" <<<"$services" || fail "list lacks $want: $services"
done
echo "smoke: list OK"

described="$(grpcurl "$addr" describe paymentcompletion.v1.PaymentCompletionService)" || fail "describe failed"
for rpc in CompleteCheckout GetPayment WatchPayment GetCharge GetChargePermission; do
	grep -q "rpc $rpc" <<<"$described" || fail "describe lacks $rpc"
done
echo "smoke: describe OK"

# A request that breaks the contract's rules is refused before any handler
# runs, with the documented details.
invalid="$(grpcurl -format-error -d '{"checkout_session_id":"not-a-uuid","order_id":"order-1","charge_amount":{"amount":"14.0","currency_code":"USD"}}' \
	"$addr" paymentcompletion.v1.PaymentCompletionService/CompleteCheckout 2>&1 || true)"
for want in '"code": 3' INVALID_REQUEST checkout_session_id charge_amount; do
	grep -q "$want" <<<"$invalid" || fail "invalid request answer lacks $want: $invalid"
done
echo "smoke: validation OK"

kill -TERM "$pid"
for _ in $(seq 1 300); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
	fail "server still running 30s after SIGTERM"
fi
status=0
wait "$pid" || status=$?
pid=""
[[ "$status" -eq 0 ]] || fail "server exited with status $status after SIGTERM"
grep -q '"msg":"stopped"' "$work/server.log" || fail "server did not log a clean stop"
echo "smoke: clean shutdown on SIGTERM"
