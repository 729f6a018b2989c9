#!/usr/bin/env bash
# A storefront module of its own consuming the Go client module gen/ the
# way docs/clients-go.md says (before gen/ is published: a replace to a
# checkout beside the storefront's directory), with the program of
# examples/go. Checks the storefront's module graph (no pseudo-version of
# grpc or protobuf, none of the server's dependencies, at most
# $max_modules modules), then completes checkouts with it against the
# server binary over plaintext (the server .ci/clients.sh started, at
# $PAYMENTCOMPLETION_ADDR with $DEMOCHECKOUT), over TLS and over mTLS
# (servers started here with certificates made by openssl), each branching
# on the outcome and on the ErrorInfo reason (.ci/example-checkout.sh).
set -euo pipefail
# The caller (.ci/clients.sh) exports TLS settings for its own clients;
# this script sets the ones each of its runs needs, so none is inherited.
unset PAYMENTCOMPLETION_CA_FILE PAYMENTCOMPLETION_CERT_FILE PAYMENTCOMPLETION_KEY_FILE PAYMENTCOMPLETION_TOKEN

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:?usage: go-consumer.sh DIR}"
: "${PAYMENTCOMPLETION_ADDR:?set by .ci/clients.sh}" "${DEMOCHECKOUT:?set by .ci/clients.sh}"
# The module graph of the storefront below, go list -m all: 28 modules when
# this was written (grpc v1.64.1's requirements); the server's graph is
# about 165.
max_modules=30

mkdir -p "$dir"
ln -sfn "$repo" "$dir/paymentcompletion"
mkdir -p "$dir/storefront"
cp "$repo/examples/go/main.go" "$dir/storefront/main.go"
cd "$dir/storefront"
go mod init example.com/storefront

# The commands of docs/clients-go.md, as written there.
commands=(
	"go mod edit -replace=github.com/paymentcompletion/paymentcompletion/gen=../paymentcompletion/gen"
	"go mod edit -require=github.com/paymentcompletion/paymentcompletion/gen@v0.1.0"
	"go mod tidy"
)
for c in "${commands[@]}"; do
	grep -qxF "$c" "$repo/docs/clients-go.md" || {
		echo "docs/clients-go.md does not show the command: $c"
		exit 1
	}
	echo "+ $c"
	$c
done
go build -o checkout .

go list -m all >modules.txt
count="$(wc -l <modules.txt)"
echo "storefront module graph: $count modules (at most $max_modules)"
grep -E '^google\.golang\.org/(protobuf|grpc) ' modules.txt
pseudo="$(grep -E '^google\.golang\.org/(protobuf|grpc) ' modules.txt | grep -E -- '-[0-9]{14}-[0-9a-f]{12}' || true)"
if [[ -n "$pseudo" ]]; then
	echo "the storefront gets pseudo-versions of core modules:"
	echo "$pseudo"
	exit 1
fi
server_deps="$(grep -E '^(github\.com/jackc/|github\.com/prometheus/|go\.opentelemetry\.io/|cel\.dev/|modernc\.org/|github\.com/bufbuild/protocompile|github\.com/jhump/)' modules.txt || true)"
if [[ -n "$server_deps" ]]; then
	echo "the storefront gets the server's dependencies:"
	echo "$server_deps"
	exit 1
fi
if [[ "$count" -gt "$max_modules" ]]; then
	echo "the storefront's module graph grew past $max_modules modules:"
	cat modules.txt
	exit 1
fi

# The vendored alternative docs/clients-go.md gives: go mod vendor, and the
# build needs the checkout no more.
go mod vendor
rm "$dir/paymentcompletion"
go build -o /dev/null .
echo "vendored: builds without the checkout"
ln -s "$repo" "$dir/paymentcompletion"
rm -rf vendor

echo "-- plaintext, server at $PAYMENTCOMPLETION_ADDR"
bash "$repo/.ci/example-checkout.sh" ./checkout

# Certificates: a CA, the server's (IP SAN 127.0.0.1, as the program dials
# 127.0.0.1:port) and a client's, each signed by the CA.
pki="$dir/pki"
mkdir -p "$pki"
(
	cd "$pki"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=storefront-ci-ca -keyout ca.key -out ca.pem 2>/dev/null
	for name in server client; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
	done
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
	printf 'extendedKeyUsage=clientAuth\n' >client.ext
	for name in server client; do
		openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
			-extfile "$name.ext" -out "$name.pem" 2>/dev/null
	done
)

server_bin="$dir/server"
democheckout_bin="$dir/democheckout"
go -C "$repo" build -o "$server_bin" ./server
go -C "$repo" build -o "$democheckout_bin" ./internal/cmd/democheckout
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT

# start NAME ENV... starts a server with its own data directory and
# embedded simulator, and sets addr and DEMOCHECKOUT for it.
start() {
	local name="$1" log="$dir/$1.log" sim_url="" p
	shift
	env DATA_DIR="$dir/$name" LISTEN_ADDR=127.0.0.1:0 SIMULATOR_ADDR=127.0.0.1:0 "$@" \
		"$server_bin" >"$log" 2>&1 &
	p=$!
	pids+=("$p")
	addr=""
	for _ in $(seq 1 300); do
		addr="$(sed -n 's/.*"msg":"serving","addr":"\([^"]*\)".*/\1/p' "$log" | head -n1)"
		sim_url="$(sed -n 's/.*"simulator_url":"\([^"]*\)".*/\1/p' "$log" | head -n1)"
		[[ -n "$addr" && -n "$sim_url" ]] && break
		if ! kill -0 "$p" 2>/dev/null; then
			echo "$name server exited at start:"
			cat "$log"
			exit 1
		fi
		sleep 0.1
	done
	[[ -n "$addr" && -n "$sim_url" ]] || {
		echo "$name server did not log its addresses within 30s"
		cat "$log"
		exit 1
	}
	cat >"$dir/democheckout-$name" <<SH
#!/usr/bin/env bash
exec "$democheckout_bin" -data-dir "$dir/$name" -simulator-addr "${sim_url#https://}" "\$@"
SH
	chmod +x "$dir/democheckout-$name"
	DEMOCHECKOUT="$dir/democheckout-$name"
}

# TLS says production: the simulator must be chosen.
start tls EMBEDDED_SIMULATOR=true TLS_CERT_FILE="$pki/server.pem" TLS_KEY_FILE="$pki/server.key"
echo "-- TLS, server at $addr"
PAYMENTCOMPLETION_ADDR="$addr" PAYMENTCOMPLETION_CA_FILE="$pki/ca.pem" \
	bash "$repo/.ci/example-checkout.sh" ./checkout

start mtls EMBEDDED_SIMULATOR=true TLS_CERT_FILE="$pki/server.pem" TLS_KEY_FILE="$pki/server.key" TLS_CLIENT_CA_FILE="$pki/ca.pem"
echo "-- mTLS, server at $addr"
PAYMENTCOMPLETION_ADDR="$addr" PAYMENTCOMPLETION_CA_FILE="$pki/ca.pem" \
	PAYMENTCOMPLETION_CERT_FILE="$pki/client.pem" PAYMENTCOMPLETION_KEY_FILE="$pki/client.key" \
	bash "$repo/.ci/example-checkout.sh" ./checkout
# The same program without its certificate must be refused: the server
# really requires one.
session="$("$DEMOCHECKOUT" -scenario Authorized)"
if out="$(PAYMENTCOMPLETION_ADDR="$addr" PAYMENTCOMPLETION_CA_FILE="$pki/ca.pem" \
	./checkout "$session" "example-nocert-$RANDOM" 14.00 USD 2>&1)"; then
	echo "mTLS server accepted a call without a client certificate: $out"
	exit 1
fi
echo "without a client certificate: refused ($(tail -n1 <<<"$out"))"
