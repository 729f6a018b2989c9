#!/usr/bin/env bash
# Checks the repository's three Go modules beyond what .ci/run does for the
# server module: the client module gen/ (the stubs storefronts import) and
# the tools module tools/ (buf, plugins, staticcheck, protovendor) are
# vetted, linted and tested on their own; every go.mod is tidy; the
# proto-vendoring tool's dependencies stay out of the server's go.mod; and
# tools/go.mod builds the vendored protos from the same protovalidate and
# genproto versions the server links (the vendored .proto files must
# describe what the server registers at run time). Called by .ci/run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for dir in . gen tools; do
	if ! diff="$(go -C "$dir" mod tidy -diff)"; then
		echo "$dir/go.mod is not tidy: run 'go -C $dir mod tidy'"
		echo "$diff"
		exit 1
	fi
done
echo "go.mod, gen/go.mod and tools/go.mod are tidy"

go -C tools build -o "$work/staticcheck" honnef.co/go/tools/cmd/staticcheck
go -C gen vet ./...
(cd gen && "$work/staticcheck" ./...)
go -C gen test -race ./...
go -C tools vet ./protovendor
(cd tools && "$work/staticcheck" ./protovendor)
go -C tools test -race ./protovendor

if grep -nE 'bufbuild/protocompile|jhump/protoreflect' go.mod; then
	echo "the server's go.mod requires the proto-vendoring tool's dependencies; they belong in tools/go.mod"
	exit 1
fi
echo "go.mod has neither protocompile nor protoreflect"

# A version's last dot-separated part is the plugin build of a generated
# module (…511051f7f437.1 and .2 carry the same descriptors): compare the
# rest.
for mod in buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go google.golang.org/genproto/googleapis/rpc; do
	server="$(go list -m -f '{{.Version}}' "$mod")"
	tools="$(go -C tools list -m -f '{{.Version}}' "$mod")"
	if [[ "${server%.[0-9]}" != "${tools%.[0-9]}" ]]; then
		echo "$mod: the server has $server, tools/go.mod (protovendor) $tools: pin the same version in tools/go.mod and run go generate ./..."
		exit 1
	fi
	echo "$mod: $server (server), $tools (tools)"
done
echo "server module graph: $(go list -m all | wc -l) modules"
