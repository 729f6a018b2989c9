#!/usr/bin/env bash
# Builds examples/go (the README's Go program) as a storefront would: in a
# module of its own that requires this one (through a replace to this
# checkout), with GOFLAGS=-mod=mod so the go command resolves everything
# itself. Fails when a core module (google.golang.org/protobuf,
# google.golang.org/grpc) resolves to a pseudo-version, then runs the
# program against the server (.ci/example-checkout.sh).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:?usage: go-consumer.sh DIR}"
mkdir -p "$dir"
cp "$repo/examples/go/main.go" "$dir/main.go"
cat >"$dir/go.mod" <<MOD
module example.com/storefront

go 1.26

require github.com/paymentcompletion/paymentcompletion v0.0.0

replace github.com/paymentcompletion/paymentcompletion => $repo
MOD
cd "$dir"
GOFLAGS=-mod=mod go build -o checkout .
GOFLAGS=-mod=mod go list -m all >modules.txt
pseudo="$(grep -E '^google\.golang\.org/(protobuf|grpc) ' modules.txt | grep -E -- '-[0-9]{14}-[0-9a-f]{12}' || true)"
if [[ -n "$pseudo" ]]; then
	echo "a storefront module gets pseudo-versions of core modules:"
	echo "$pseudo"
	exit 1
fi
grep -E '^google\.golang\.org/(protobuf|grpc) ' modules.txt

bash "$repo/.ci/example-checkout.sh" ./checkout
