#!/usr/bin/env bash
# Client checks against the real server binary: starts the server (with its
# embedded Amazon Pay simulator) on free loopback ports three times: in
# cleartext, with TLS (callers known by a bearer token) and with mTLS
# (callers known by their client certificate; test certificates made with
# openssl). Then runs, each under its own header, the Go storefront-module
# check, the TypeScript client's tests, the contract with other toolchains
# (Debian's and a current protoc, @grpc/proto-loader), the Python client's
# tests and the docs' example programs. Test suites prepare checkout sessions with
# $DEMOCHECKOUT, $DEMOCHECKOUT_TLS and $DEMOCHECKOUT_MTLS (the democheckout
# command bound to each server's simulator); the servers are stopped at the
# end. Called by .ci/run; installs the Debian packages it needs when they
# are missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
offset="${SECTION_OFFSET:-0}"
section() {
	printf '\n==== %s (at %ds) ====\n' "$*" "$((offset + SECONDS))"
}

work="$(mktemp -d)"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "clients: FAIL: $*" >&2
	local log
	for log in "$work"/*.log; do
		[[ -f "$log" ]] || continue
		echo "--- $log (last 50 lines) ---" >&2
		tail -n 50 "$log" >&2
	done
	exit 1
}

# start_server NAME [VAR=VALUE...]: starts the server binary with its data
# in $work/NAME and the settings given, waits until it logs its addresses,
# and writes $work/democheckout-NAME, which prepares checkout sessions at
# its embedded simulator. Sets server_addr.
start_server() {
	local name="$1" log="$work/$1.log" sim_url="" p
	shift
	# Short pending delays so pending authorizations settle within a test.
	env DATA_DIR="$work/$name" LISTEN_ADDR=127.0.0.1:0 SIMULATOR_ADDR=127.0.0.1:0 \
		SIMULATOR_PENDING_DELAY=1s TRACKER_FIRST_POLL=500ms TRACKER_MAX_INTERVAL=1s \
		"$@" "$work/server" >"$log" 2>&1 &
	p=$!
	pids+=("$p")
	server_addr=""
	for _ in $(seq 1 300); do
		server_addr="$(sed -n 's/.*"msg":"serving","addr":"\([^"]*\)".*/\1/p' "$log" | head -n1)"
		sim_url="$(sed -n 's/.*"simulator_url":"\([^"]*\)".*/\1/p' "$log" | head -n1)"
		[[ -n "$server_addr" && -n "$sim_url" ]] && break
		kill -0 "$p" 2>/dev/null || fail "server $name exited before serving"
		sleep 0.1
	done
	[[ -n "$server_addr" && -n "$sim_url" ]] || fail "server $name did not log its addresses within 30s"
	cat >"$work/democheckout-$name" <<SH
#!/usr/bin/env bash
exec "$work/democheckout-bin" -data-dir "$work/$name" -simulator-addr "${sim_url#https://}" "\$@"
SH
	chmod +x "$work/democheckout-$name"
	"$work/democheckout-$name" -scenario none >/dev/null || fail "democheckout cannot reach the simulator of server $name"
	echo "server $name at $server_addr, simulator at $sim_url"
}

# tls_files DIR NAME: a CA (DIR/NAME-ca.pem), a server certificate for
# 127.0.0.1 and localhost (DIR/NAME-server.pem, -server-key.pem) and a
# client certificate with subject CN=storefront (DIR/NAME-client.pem,
# -client-key.pem), all signed by that CA and valid for two days.
tls_files() {
	local d="$1" n="$2"
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
	openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=$n test CA" -keyout "$d/$n-ca-key.pem" -out "$d/$n-ca.pem" 2>/dev/null
	openssl req "${ec[@]}" -subj /CN=localhost -keyout "$d/$n-server-key.pem" -out "$d/$n-server.csr" 2>/dev/null
	openssl x509 -req -in "$d/$n-server.csr" -CA "$d/$n-ca.pem" -CAkey "$d/$n-ca-key.pem" -CAcreateserial -days 2 \
		-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') \
		-out "$d/$n-server.pem" 2>/dev/null
	openssl req "${ec[@]}" -subj /CN=storefront -keyout "$d/$n-client-key.pem" -out "$d/$n-client.csr" 2>/dev/null
	openssl x509 -req -in "$d/$n-client.csr" -CA "$d/$n-ca.pem" -CAkey "$d/$n-ca-key.pem" -CAcreateserial -days 2 \
		-extfile <(printf 'extendedKeyUsage=clientAuth\n') -out "$d/$n-client.pem" 2>/dev/null
}

section "client test servers (server binary, embedded simulator): cleartext, TLS with a token, mTLS"
command -v openssl >/dev/null || {
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 openssl >/dev/null
}
go build -o "$work/server" ./server
go build -o "$work/democheckout-bin" ./internal/cmd/democheckout
mkdir -p "$work/tls"
tls_files "$work/tls" test
# A client certificate of another CA, which the mTLS server refuses.
tls_files "$work/tls" other
token="storefront-token-$RANDOM$RANDOM"
cat >"$work/tls/callers.json" <<JSON
{"callers": [
  {"name": "storefront-token", "token_sha256": "$(printf %s "$token" | sha256sum | cut -d' ' -f1)",
   "methods": ["CompleteCheckout", "GetPayment", "WatchPayment"]},
  {"name": "storefront-cert", "client_cert_subject": "CN=storefront",
   "methods": ["CompleteCheckout", "GetPayment", "WatchPayment"]}
]}
JSON
start_server plain
export PAYMENTCOMPLETION_ADDR="$server_addr" DEMOCHECKOUT="$work/democheckout-plain"
# TLS and a callers file say production: the simulator must be chosen.
# TLS: callers recognised by their bearer token.
start_server tls EMBEDDED_SIMULATOR=true TLS_CERT_FILE="$work/tls/test-server.pem" TLS_KEY_FILE="$work/tls/test-server-key.pem" \
	AUTH_CALLERS_FILE="$work/tls/callers.json"
export PAYMENTCOMPLETION_TLS_ADDR="$server_addr" DEMOCHECKOUT_TLS="$work/democheckout-tls"
# mTLS: every connection needs a client certificate of the test CA; callers
# recognised by its subject.
start_server mtls EMBEDDED_SIMULATOR=true TLS_CERT_FILE="$work/tls/test-server.pem" TLS_KEY_FILE="$work/tls/test-server-key.pem" \
	TLS_CLIENT_CA_FILE="$work/tls/test-ca.pem" AUTH_CALLERS_FILE="$work/tls/callers.json"
export PAYMENTCOMPLETION_MTLS_ADDR="$server_addr" DEMOCHECKOUT_MTLS="$work/democheckout-mtls"
export PAYMENTCOMPLETION_TOKEN="$token" PAYMENTCOMPLETION_CA_FILE="$work/tls/test-ca.pem" \
	PAYMENTCOMPLETION_CERT_FILE="$work/tls/test-client.pem" PAYMENTCOMPLETION_KEY_FILE="$work/tls/test-client-key.pem" \
	OTHER_CA_FILE="$work/tls/other-ca.pem" OTHER_CERT_FILE="$work/tls/other-client.pem" \
	OTHER_KEY_FILE="$work/tls/other-client-key.pem"

section "Go: a storefront module importing gen/ with released core modules"
bash .ci/go-consumer.sh "$work/go-consumer"

section "docs/clients.md shows the programs CI runs"
# shellcheck source=.ci/lib/example-block.bash
source .ci/lib/example-block.bash
found=0
while IFS= read -r path; do
	found=$((found + 1))
	block="$(example_block docs/clients.md "$path")"
	if [[ "$block" != "$(cat "$path")" ]]; then
		echo "docs/clients.md's program for $path differs from the file:"
		diff <(printf '%s\n' "$block") "$path" || true
		exit 1
	fi
	echo "docs/clients.md shows $path as it is"
done < <(sed -n 's/^<!-- example: \(.*\) -->$/\1/p' docs/clients.md)
[[ "$found" -gt 0 ]] || fail "no example markers in docs/clients.md"

section "TypeScript client (clients/ts)"
bash clients/ts/ci.sh

section "Python client (clients/python, Debian's protoc and grpc packages)"
bash clients/python/ci.sh

section "contract with a current protoc, Debian's protoc and @grpc/proto-loader (interop/contract)"
bash interop/contract/run.sh

echo
for log in "$work"/*.log; do
	echo "server log $(basename "$log"): $(grep -c '"level":"ERROR"' "$log" || true) error lines"
done
