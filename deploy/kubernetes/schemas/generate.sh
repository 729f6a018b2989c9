#!/usr/bin/env bash
# Regenerates the vendored JSON schemas kubeconform validates the manifests
# against: the kinds the manifests use, from the OpenAPI document of a
# pinned Kubernetes release and the CRDs of a pinned Prometheus Operator
# release (both from the Go module proxy, like every other pin here).
# Run from anywhere; needs Go and network access to the module proxy.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../../.."

KUBERNETES=v1.32.4
PROMETHEUS_OPERATOR=v0.80.1

k8s="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
po="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
out=deploy/kubernetes/schemas
find "$out" -name '*.json' -delete
(
	cd tools/deploy
	go run ./schemagen -swagger "$k8s/api/openapi-spec/swagger.json" -out "../../$out" \
		-kinds io.k8s.api.apps.v1.Deployment,io.k8s.api.core.v1.Service,io.k8s.api.core.v1.Secret,io.k8s.api.core.v1.ServiceAccount,io.k8s.api.core.v1.ConfigMap,io.k8s.api.policy.v1.PodDisruptionBudget,io.k8s.api.networking.v1.NetworkPolicy \
		"$po/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
		"$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
)
printf 'Kubernetes %s (api/openapi-spec/swagger.json), Prometheus Operator %s (example/prometheus-operator-crd)\n' \
	"$KUBERNETES" "$PROMETHEUS_OPERATOR" >"$out/VERSIONS"
