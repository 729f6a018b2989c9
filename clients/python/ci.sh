#!/usr/bin/env bash
# CI of the Python client: installs Debian's protoc, grpc tools and
# runtime when they are missing, generates the code with them, runs the
# tests (unittest, Debian's /usr/bin/python3) against the server at
# $PAYMENTCOMPLETION_ADDR, with sessions from $DEMOCHECKOUT, and the
# README's program.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
packages=(protobuf-compiler python3-grpc-tools python3-grpcio python3-protobuf)
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
/usr/bin/protoc --version
/usr/bin/python3 -m grpc_tools.protoc --version
bash "$here/generate.sh"
cd "$here"
PYTHONPATH="$here" /usr/bin/python3 -m unittest discover -v -s tests 2>&1
PYTHONPATH="$here" bash "$repo/.ci/example-checkout.sh" /usr/bin/python3 examples/checkout.py
