#!/usr/bin/env bash
# Runs the official Amazon Pay Node.js SDK against the simulator: installs
# the pinned SDK, builds and starts the stand-alone simulator on a free
# loopback port, runs the node:test suite and stops the simulator again.
# Needs only Go and Node 20+ with npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
sim_pid=""

cleanup() {
	if [[ -n "$sim_pid" ]] && kill -0 "$sim_pid" 2>/dev/null; then
		kill "$sim_pid"
		wait "$sim_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

cd "$here"
npm ci --no-audit --no-fund --loglevel=error

(cd "$repo" && go build -o "$work/amazonpay-simulator" ./amazonpay/simulator/cmd/amazonpay-simulator)

"$work/amazonpay-simulator" \
	-addr 127.0.0.1:0 \
	-tls=true \
	-cert-dir "$work/cert" \
	-url-file "$work/url" \
	-pending-delay 2s \
	-log-level warn &
sim_pid=$!

for _ in $(seq 1 100); do
	[[ -s "$work/url" ]] && break
	if ! kill -0 "$sim_pid" 2>/dev/null; then
		echo "simulator exited before listening" >&2
		exit 1
	fi
	sleep 0.1
done
if [[ ! -s "$work/url" ]]; then
	echo "simulator did not start" >&2
	exit 1
fi

export SIMULATOR_URL="$(cat "$work/url")"
export NODE_EXTRA_CA_CERTS="$work/cert/simulator-cert.pem"
echo "simulator at $SIMULATOR_URL" >&2
node --test --test-reporter=tap "$here/sdk.test.mjs"
