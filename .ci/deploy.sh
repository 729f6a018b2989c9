#!/usr/bin/env bash
# The deployment files, checked offline: the Prometheus rules (promtool
# check and unit tests), the Kubernetes manifests (rendered with the pinned
# kustomize, validated strictly with the pinned kubeconform against the
# schemas vendored in deploy/kubernetes/schemas), the consistency of the
# manifests, the systemd unit and the rules with the server's settings and
# the README (tools/deploy/deploycheck), the Grafana dashboard's queries, and the systemd unit
# (systemd-analyze verify and security, where systemd is installed).
# Installs promtool (Debian's prometheus package) when missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v promtool >/dev/null; then
	echo "deploy: installing promtool (Debian package prometheus)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "deploy: promtool check rules"
promtool check rules deploy/prometheus/rules.yml
echo "deploy: promtool test rules"
promtool test rules deploy/prometheus/rules_test.yml

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

if command -v systemd-analyze >/dev/null; then
	go build -o "$work/paymentcompletion" ./server
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
