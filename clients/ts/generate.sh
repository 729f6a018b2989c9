#!/usr/bin/env bash
# Regenerates clients/ts/gen from proto/ with the pinned buf and this
# package's protoc-gen-es, and copies the default service config next to
# package.json. Needs `npm ci` in clients/ts first.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
go tool -modfile=tools/go.mod buf generate --template clients/ts/buf.gen.yaml
cp serviceconfig/service_config.json clients/ts/service_config.json
