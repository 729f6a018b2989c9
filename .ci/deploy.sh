#!/usr/bin/env bash
# The deployment files, checked offline: the Prometheus rules (promtool
# check and unit tests), the Kubernetes manifests (rendered with the pinned
# kustomize, validated strictly with the pinned kubeconform against the
# schemas vendored in deploy/kubernetes/schemas), the consistency of the
# manifests, the systemd unit and the rules with the server's settings and
# docs/operations.md (tools/deploy/deploycheck), the Grafana dashboard's queries, and the systemd unit
# (systemd-analyze verify and security, where systemd is installed), and
# the server started with the Deployment's settings.
# Installs promtool (Debian's prometheus package) and openssl when missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v promtool >/dev/null || ! command -v openssl >/dev/null; then
	echo "deploy: installing promtool (Debian package prometheus) and openssl"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus openssl >/dev/null
fi

work="$(mktemp -d)"
server_pid="" db=""
cleanup() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	[[ -z "$db" ]] || dropdb -h 127.0.0.1 -U postgres --if-exists "$db" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "deploy: FAIL: $*" >&2
	[[ ! -f "$work/server.log" ]] || tail -n 20 "$work/server.log" >&2
	exit 1
}

echo "deploy: promtool check rules"
promtool check rules deploy/prometheus/rules.yml
echo "deploy: promtool test rules"
promtool test rules deploy/prometheus/rules_test.yml

# serve_and_stop WHAT: the server with server_env (listeners moved to
# loopback port 0 by flags) must serve, use Amazon Pay, answer on the
# metrics listener, and exit 0 within drain + grace after SIGTERM.
serve_and_stop() {
	local what=$1 path code status stop_start metrics paths
	env -i PATH="$PATH" "${server_env[@]}" "$work/paymentcompletion" \
		-listen-addr 127.0.0.1:0 -ipn-addr 127.0.0.1:0 -metrics-addr 127.0.0.1:0 >"$work/server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 300); do
		grep -q '"msg":"serving"' "$work/server.log" && break
		kill -0 "$server_pid" 2>/dev/null || fail "the server refused $what"
		sleep 0.1
	done
	metrics="$(sed -n 's/.*"msg":"serving metrics","metrics_addr":"\([^"]*\)".*/\1/p' "$work/server.log" | head -n1)"
	grep -q '"msg":"using Amazon Pay"' "$work/server.log" || fail "the server does not use Amazon Pay with $what"
	paths=(/metrics)
	# The probe endpoints, checked from the moment the server's code has them.
	if grep -rqF '"/livez"' server internal --include='*.go'; then paths+=(/livez /readyz); else
		echo "deploy: /livez and /readyz not in the server's code yet: probes' endpoints not checked"; fi
	for path in "${paths[@]}"; do
		code=""
		for _ in $(seq 1 50); do
			code="$(curl -s -o /dev/null -w '%{http_code}' "http://$metrics$path" || true)"
			[[ "$code" == 200 ]] && break
			sleep 0.2
		done
		[[ "$code" == 200 ]] || fail "GET $path answered $code with $what"
	done
	stop_start=$SECONDS
	kill -TERM "$server_pid"
	status=0
	wait "$server_pid" || status=$?
	server_pid=""
	[[ "$status" -eq 0 ]] || fail "exit status $status after SIGTERM with $what"
	# SHUTDOWN_DRAIN_DELAY (5s) + SHUTDOWN_GRACE (15s) in both examples.
	(( SECONDS - stop_start <= 20 )) || fail "SIGTERM took $((SECONDS - stop_start))s with $what, more than drain + grace"
	echo "deploy: the server started with $what (Amazon Pay, PostgreSQL, TLS, callers), answered GET ${paths[*]} on the metrics listener, and exited 0 on SIGTERM in $((SECONDS - stop_start))s"
}

TOOLS=(go tool -modfile=tools/deploy/go.mod)
schemas=deploy/kubernetes/schemas
for dir in deploy/kubernetes/base deploy/kubernetes/overlays/example; do
	out="$work/$(basename "$dir").yaml"
	"${TOOLS[@]}" kustomize build "$dir" >"$out"
	echo "deploy: kubeconform $dir ($(grep -c '^kind:' "$out") objects)"
	"${TOOLS[@]}" kubeconform -strict -summary \
		-schema-location "$schemas/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
		-schema-location "$schemas/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
		"$out"
done

echo "deploy: deploycheck (tests, then the example overlay, the unit and the rules)"
(cd tools/deploy && go vet ./... && go test -count=1 ./... && go build -o "$work/deploycheck" ./deploycheck)
"$work/deploycheck" -rendered "$work/example.yaml" -dashboard-rules "$work/dashboard-rules.yml"
echo "deploy: the Grafana dashboard's queries parse (promtool check rules)"
promtool check rules "$work/dashboard-rules.yml"

# The server itself must accept the manifest's settings: start it with the
# Deployment's environment, mounted files and Secrets replaced by test ones
# (a throw-away PostgreSQL database, a self-signed certificate, a fresh RSA
# key, a valid callers file) and the three listeners moved to loopback
# port 0 by flags (which win over the environment), then stop it with
# SIGTERM within SHUTDOWN_DRAIN_DELAY + SHUTDOWN_GRACE.
echo "deploy: the server starts with the Deployment's settings"
go build -o "$work/paymentcompletion" ./server
mounted="$work/mounted"
mkdir -p "$mounted" "$work/data"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$mounted/tls.key" -out "$mounted/tls.crt" \
	-days 1 -subj /CN=paymentcompletion 2>/dev/null
openssl genrsa -out "$mounted/private-key.pem" 2048 2>/dev/null
printf '{"callers": [{"name": "storefront", "token_sha256": "%s", "methods": ["CompleteCheckout"]}]}\n' \
	"$(printf manifest-check | sha256sum | cut -d' ' -f1)" >"$mounted/callers.json"
db="pcmanifest_$$"
createdb -h 127.0.0.1 -U postgres "$db"
server_env=()
while IFS=$'\t' read -r name kind value; do
	case "$kind/$value" in
	value/"/etc/paymentcompletion/"*) value="$mounted/$(basename "$value")" ;;
	secret/*/url) value="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" ;;
	secret/*/public-key-id) value=LIVE-AMANIFESTCHECKEXAMPLE ;;
	secret/*/merchant-id) value=A1MANIFESTCHECK ;;
	field/metadata.name) value=paymentcompletion-manifest-check ;;
	resource/limits.memory) value=805306368 ;;
	value/*) ;;
	*) echo "deploy: no test value for $name ($kind $value)" >&2; exit 1 ;;
	esac
	[[ "$name" == DATA_DIR ]] && value="$work/data"
	server_env+=("$name=$value")
done < <("$work/deploycheck" -rendered "$work/example.yaml" -print-env)
serve_and_stop "the Deployment's settings"

echo "deploy: the server starts with the systemd environment file"
cp "$mounted/private-key.pem" "$mounted/amazonpay-private-key.pem"
server_env=()
while IFS='=' read -r name value; do
	[[ -z "$name" || "$name" == \#* ]] && continue
	case "$name/$value" in
	*/"/run/credentials/paymentcompletion.service/"*) value="$mounted/$(basename "$value")" ;;
	DATABASE_URL/*) value="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" ;;
	AMAZON_PAY_PUBLIC_KEY_ID/*) value=LIVE-AMANIFESTCHECKEXAMPLE ;;
	IPN_MERCHANT_ID/*) value=A1MANIFESTCHECK ;;
	esac
	server_env+=("$name=$value")
done <deploy/systemd/paymentcompletion.env
mkdir -p "$work/state"
server_env+=("DATA_DIR=$work/state")
serve_and_stop "the systemd environment file"

if command -v systemd-analyze >/dev/null; then
	sed "s|^ExecStart=/usr/local/bin/paymentcompletion|ExecStart=$work/paymentcompletion|" \
		deploy/systemd/paymentcompletion.service >"$work/paymentcompletion.service"
	echo "deploy: systemd-analyze verify"
	systemd-analyze verify "$work/paymentcompletion.service"
	echo "deploy: systemd-analyze security (offline; exposure must stay below 2.0)"
	systemd-analyze security --offline=true --threshold=20 "$work/paymentcompletion.service" | tail -n 1
else
	echo "deploy: systemd-analyze not installed: unit checked by deploycheck only"
fi
echo "deploy: all checks passed"
