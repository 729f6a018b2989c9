#!/usr/bin/env bash
# Regenerates clients/ts/gen from proto/ with the pinned buf and this
# package's protoc-gen-es, and copies the default service config next to
# package.json. Run by `go generate ./...`; installs the locked npm
# dependencies first when protoc-gen-es is missing.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
if [[ ! -x clients/ts/node_modules/.bin/protoc-gen-es ]]; then
	(cd clients/ts && npm ci --no-audit --no-fund --loglevel=error)
fi
go tool -modfile=tools/go.mod buf generate --template clients/ts/buf.gen.yaml
cp gen/serviceconfig/service_config.json clients/ts/service_config.json
