#!/usr/bin/env bash
# CI of the TypeScript client: installs the locked dependencies, compiles,
# runs the tests (node's test runner) against the server at
# $PAYMENTCOMPLETION_ADDR, with sessions from $DEMOCHECKOUT, and the
# README's program. That gen/ is current is checked with the rest of
# `go generate ./...` in .ci/run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
cd "$here"
rm -rf dist
npx tsc -p .
node --test --test-reporter=spec dist/test/
bash "$repo/.ci/example-checkout.sh" node dist/examples/checkout.js
