#!/usr/bin/env bash
# CI of the TypeScript client: installs the locked dependencies (failing
# on a dependency whose engines exclude this Node), builds, runs the tests
# (node's test runner) against the servers .ci/clients.sh started
# (cleartext, TLS, mTLS; see test/tls.test.ts for the variables) and
# examples/checkout.ts in cleartext. Then installs the package as docs/clients.md says,
# running its command blocks as written: the tarball of `npm pack` (whose
# `prepack` builds it) into a new project, where examples/storefront.ts is
# compiled with the package's types and completes checkouts over TLS with a
# token and over mTLS; and the directory into another. That gen/ is current
# is checked with the rest of `go generate ./...` in .ci/run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# shellcheck source=clients/doc-block.bash
source "$repo/clients/doc-block.bash"

echo "node $(node --version), npm $(npm --version); the package's engines: $(node -p 'require(process.argv[1]).engines.node' "$here/package.json")"
cd "$here"
# Warnings shown: a dependency whose engines exclude this Node fails here.
npm ci --no-audit --no-fund 2>&1 | tee "$work/npm-ci.log"
if grep -q EBADENGINE "$work/npm-ci.log"; then
	echo "a dependency does not support node $(node --version)"
	exit 1
fi
npm run build
node --test --test-reporter=spec dist/test/
bash "$repo/.ci/example-checkout.sh" node dist/examples/checkout.js

run_doc_block ts-tarball "$work"
app="$work/storefront"
tar -tzf "$app/paymentcompletion-client-0.1.0.tgz" | sort >"$work/contents"
grep -qx 'package/dist/src/index.d.ts' "$work/contents" || { echo "tarball lacks dist/src/index.d.ts"; exit 1; }
grep -qx 'package/LICENSE' "$work/contents" || { echo "tarball lacks LICENSE"; exit 1; }
if grep -q '^package/dist/test/' "$work/contents"; then
	echo "tarball ships the tests"
	exit 1
fi
echo "tarball: $(wc -l <"$work/contents") files"
cd "$app"
[[ "$(npm pkg get license --prefix node_modules/@paymentcompletion/client)" == '"Apache-2.0"' ]] || { echo "license is not Apache-2.0"; exit 1; }
run_doc_block ts-compile "$app"

echo "--- TLS, callers known by their bearer token"
PAYMENTCOMPLETION_ADDR="$PAYMENTCOMPLETION_TLS_ADDR" DEMOCHECKOUT="$DEMOCHECKOUT_TLS" \
	PAYMENTCOMPLETION_CERT_FILE= PAYMENTCOMPLETION_KEY_FILE= \
	bash "$repo/.ci/example-checkout.sh" node storefront.js
echo "--- mTLS, callers known by their client certificate"
PAYMENTCOMPLETION_ADDR="$PAYMENTCOMPLETION_MTLS_ADDR" DEMOCHECKOUT="$DEMOCHECKOUT_MTLS" PAYMENTCOMPLETION_TOKEN= \
	bash "$repo/.ci/example-checkout.sh" node storefront.js
echo "--- mTLS without a client certificate: the setting to fix, not INTERNAL"
out="$(PAYMENTCOMPLETION_ADDR="$PAYMENTCOMPLETION_MTLS_ADDR" PAYMENTCOMPLETION_CERT_FILE= PAYMENTCOMPLETION_KEY_FILE= \
	node storefront.js "$("$DEMOCHECKOUT_MTLS" -scenario Authorized)" "ts-nocert-$RANDOM" 14.00 USD || true)"
echo "$out"
[[ "$out" == "CLIENT_CERTIFICATE_REQUIRED: fix tls.certFile and tls.keyFile"* ]] || { echo "want CLIENT_CERTIFICATE_REQUIRED"; exit 1; }

linked="$work/linked"
mkdir -p "$linked"
cd "$linked"
npm init -y >/dev/null
npm pkg set type=module
run_doc_block ts-directory "$linked"
node --input-type=module -e '
import { createPaymentCompletionClient, Outcome } from "@paymentcompletion/client";
createPaymentCompletionClient({ baseUrl: "http://127.0.0.1:50051" });
console.log("imported from the directory: Outcome.COMPLETED =", Outcome.COMPLETED);
'
