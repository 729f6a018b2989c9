#!/usr/bin/env bash
# CI of the Python client, with Debian's packages only (no package index):
# installs Debian's protoc, grpc tools, grpcio, protobuf, setuptools and
# venv when missing; compiles every .proto under proto/ with Debian's
# python3-grpc-tools as shipped; checks that the committed generated code is
# what generate.sh makes; installs the package with pip, without an index,
# into a fresh venv that sees Debian's grpcio (these two as the command
# blocks of docs/clients.md, run as written); runs the tests (unittest)
# with that venv against the servers .ci/clients.sh started (cleartext,
# TLS, mTLS; see tests/test_tls.py for the variables), then
# examples/checkout.py in cleartext and examples/storefront.py over TLS
# with a token and over mTLS.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck source=clients/doc-block.bash
source "$repo/clients/doc-block.bash"

# The packages docs/clients.md has installed (and protoc for generate.sh).
packages=(protobuf-compiler libprotobuf-dev python3-grpc-tools python3-grpcio python3-protobuf
	python3-setuptools python3-wheel python3-venv)
missing=()
for p in "${packages[@]}"; do
	[[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" == installed ]] || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing ${missing[*]}"
	apt-get update -qq
	# Another run on the same machine may hold the dpkg lock: wait for it.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
fi

echo "Debian's python3-grpc-tools: $(/usr/bin/python3 -m grpc_tools.protoc --version)"
mkdir -p "$work/contract"
run_doc_block py-contract "$work/contract"
modules="$(find "$work/contract/out" -name '*_pb2.py' | wc -l)" protos="$(cd "$repo/proto" && find . -name '*.proto' | wc -l)"
echo "$modules modules from $protos .proto files under proto/"
[[ "$modules" -eq "$protos" && "$protos" -gt 0 ]] || { echo "not every .proto compiled"; exit 1; }

echo "--- the committed generated code is current ($(/usr/bin/protoc --version) for the messages)"
bash "$here/generate.sh"
if ! git -C "$repo" diff --exit-code --stat -- clients/python/paymentcompletion clients/python/paymentcompletion_client/service_config.json; then
	echo "clients/python differs from what generate.sh makes: run it and commit the result"
	exit 1
fi
untracked="$(git -C "$repo" ls-files --others --exclude-standard -- clients/python/paymentcompletion)"
if [[ -n "$untracked" ]]; then
	echo "generate.sh made files that are not committed:"
	echo "$untracked"
	exit 1
fi

run_doc_block py-venv "$work"
py="$work/venv/bin/python"
rm -rf "$here/build" "$here"/*.egg-info
cd "$work"
"$py" - <<'PY'
import grpc, google.protobuf, paymentcompletion_client
print("installed at", paymentcompletion_client.__file__)
print("grpcio", grpc.__version__, "protobuf", google.protobuf.__version__)
assert "/venv/" in paymentcompletion_client.__file__, "not the installed package"
PY
"$py" -m unittest discover -v -s "$here/tests" 2>&1
bash "$repo/.ci/example-checkout.sh" "$py" "$here/examples/checkout.py"
echo "--- examples/storefront.py over TLS with a token"
PAYMENTCOMPLETION_ADDR="$PAYMENTCOMPLETION_TLS_ADDR" DEMOCHECKOUT="$DEMOCHECKOUT_TLS" \
	PAYMENTCOMPLETION_CERT_FILE= PAYMENTCOMPLETION_KEY_FILE= \
	bash "$repo/.ci/example-checkout.sh" "$py" "$here/examples/storefront.py"
echo "--- examples/storefront.py over mTLS"
PAYMENTCOMPLETION_ADDR="$PAYMENTCOMPLETION_MTLS_ADDR" DEMOCHECKOUT="$DEMOCHECKOUT_MTLS" PAYMENTCOMPLETION_TOKEN= \
	bash "$repo/.ci/example-checkout.sh" "$py" "$here/examples/storefront.py"
