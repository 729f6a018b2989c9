#!/usr/bin/env bash
# Builds a release into dist/VERSION/: static binaries of the server, the
# client and the stand-alone simulator for linux/amd64 and linux/arm64 with
# the version stamped in (`-version`, the start log, build_info), the
# container image of each architecture as an archive for `podman load` or
# `docker load` (docker format, which keeps the HEALTHCHECK), a CycloneDX SBOM
# of each program (cyclonedx-gomod, pinned in tools/deploy/go.mod), and
# SHA256SUMS over all of it.
#
#   git tag -a v0.1.0 -m v0.1.0 && make release      # VERSION from the tag
#   VERSION=v0.1.0-rc1 bash scripts/release.sh       # explicit
#
# Settings: VERSION (default: the tag on HEAD; refused without one),
# RELEASE_ARCHES (default "amd64 arm64"), RELEASE_IMAGES (default 1; 0 skips
# the images, which need podman), DIST (default dist).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION=${VERSION:-$(git describe --tags --exact-match 2>/dev/null || true)}
if [[ -z "$VERSION" ]]; then
	echo "release: HEAD has no tag; tag it (git tag -a v0.1.0 -m v0.1.0) or set VERSION" >&2
	exit 2
fi
COMMIT=$(git rev-parse HEAD)
ARCHES=${RELEASE_ARCHES:-amd64 arm64}
IMAGES=${RELEASE_IMAGES:-1}
out="${DIST:-dist}/$VERSION"
rm -rf "$out"
mkdir -p "$out"
ldflags="-s -w -X main.version=$VERSION -X main.commit=$COMMIT"

for arch in $ARCHES; do
	echo "release: $VERSION linux/$arch binaries"
	for pkg in server client amazonpay/simulator/cmd/amazonpay-simulator; do
		name="paymentcompletion-$(basename "$pkg")"
		[[ "$pkg" == amazonpay/* ]] && name="amazonpay-simulator"
		CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -ldflags "$ldflags" \
			-o "$out/${name}_${VERSION}_linux_${arch}" "./$pkg"
	done
	if [[ "$IMAGES" == 1 ]]; then
		echo "release: $VERSION linux/$arch image"
		make --no-print-directory image GOARCH="$arch" VERSION="$VERSION" COMMIT="$COMMIT" \
			IMAGE="paymentcompletion:$VERSION-$arch" >"$out/.image-$arch.log"
		rm "$out/.image-$arch.log"
		podman save --format docker-archive -o "$out/paymentcompletion-image_${VERSION}_linux_${arch}.tar" \
			"paymentcompletion:$VERSION-$arch"
	fi
done

# From the binaries' embedded build information: the SBOM lists exactly
# the modules linked in (the same on every architecture).
first_arch=${ARCHES%% *}
for bin in "$out"/*_"${VERSION}_linux_${first_arch}"; do
	name=$(basename "$bin" "_${VERSION}_linux_${first_arch}")
	echo "release: SBOM (CycloneDX) of $name"
	go tool -modfile=tools/deploy/go.mod cyclonedx-gomod bin -json -licenses -version "$VERSION" \
		-output "$out/${name}_${VERSION}.cdx.json" "$bin" 2>/dev/null
done

# The build stamps what it says: the host's binary reports the version.
host_arch=$(go env GOARCH)
if [[ -x "$out/paymentcompletion-server_${VERSION}_linux_${host_arch}" ]]; then
	"$out/paymentcompletion-server_${VERSION}_linux_${host_arch}" -version | grep -qF "server $VERSION" ||
		{ echo "release: the binary does not report $VERSION" >&2; exit 1; }
fi

(cd "$out" && sha256sum -- * >SHA256SUMS)
echo "release: $out"
ls -l "$out"
