#!/usr/bin/env bash
# Runs the official Amazon Pay Node.js SDK against the simulator: installs
# the pinned SDK, builds and starts the stand-alone simulator on a free
# loopback port, runs the node:test suite and stops the simulator again.
# Needs only Go and Node 20+ with npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
sim_pids=()

cleanup() {
	for pid in "${sim_pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid"
			wait "$pid" 2>/dev/null || true
		fi
	done
	rm -rf "$work"
}
trap cleanup EXIT

cd "$here"
npm ci --no-audit --no-fund --loglevel=error

(cd "$repo" && go build -o "$work/amazonpay-simulator" ./amazonpay/simulator/cmd/amazonpay-simulator)

# start_simulator NAME ARGS...: starts a simulator on a free loopback port
# and waits until it listens. All share the certificate in $work/cert (the
# first one creates it), so NODE_EXTRA_CA_CERTS names one CA.
start_simulator() {
	local name="$1"
	shift
	"$work/amazonpay-simulator" \
		-addr 127.0.0.1:0 \
		-tls=true \
		-cert-dir "$work/cert" \
		-url-file "$work/$name.url" \
		-log-level warn "$@" &
	local pid=$!
	sim_pids+=("$pid")
	for _ in $(seq 1 100); do
		[[ -s "$work/$name.url" ]] && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "simulator $name exited before listening" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "simulator $name did not start" >&2
	exit 1
}

# The main suite waits for pending authorizations in real time; the
# clock suite drives a manual clock with Amazon's sandbox quotas.
start_simulator main -pending-delay 2s
start_simulator manual -clock manual -throttle sandbox -pending-delay 30s

export SIMULATOR_URL="$(cat "$work/main.url")"
export SIMULATOR_MANUAL_URL="$(cat "$work/manual.url")"
export NODE_EXTRA_CA_CERTS="$work/cert/simulator-cert.pem"
echo "simulators at $SIMULATOR_URL and (manual clock, sandbox quotas) $SIMULATOR_MANUAL_URL" >&2
node --test --test-reporter=tap "$here/sdk.test.mjs" "$here/clock-throttle.test.mjs" "$here/postcheckout.test.mjs"
