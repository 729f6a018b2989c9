#!/usr/bin/env bash
# CI of the TypeScript client: installs the locked dependencies, checks that
# gen/ and the service config copy are what generate.sh produces, compiles,
# and runs the tests (node's test runner) against the server at
# $PAYMENTCOMPLETION_ADDR, with sessions from $DEMOCHECKOUT.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
bash generate.sh
cd "$repo"
if ! git diff --exit-code --stat -- clients/ts/gen clients/ts/service_config.json; then
	echo "clients/ts is not what generate.sh produces: run 'bash clients/ts/generate.sh' and commit the result"
	exit 1
fi
untracked="$(git ls-files --others --exclude-standard -- clients/ts/gen clients/ts/service_config.json)"
if [[ -n "$untracked" ]]; then
	echo "generation produced files that are not committed:"
	echo "$untracked"
	exit 1
fi
echo "clients/ts/gen matches the contract"
cd "$here"
rm -rf dist
npx tsc -p .
node --test --test-reporter=spec dist/test/
bash "$repo/.ci/example-checkout.sh" node dist/examples/checkout.js
