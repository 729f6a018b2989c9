#!/usr/bin/env bash
# Generates the Python code of the contract next to this script, with
# Debian's packages only: protoc (protobuf-compiler) for the messages and
# python3-grpc-tools for the service stubs. The output (the packages
# paymentcompletion/, buf/ and google/rpc/, and a copy of the service
# config in paymentcompletion_client/) is not committed; run this after
# cloning and after every change of proto/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
proto="$(cd "$here/../../proto" && pwd)"
cd "$here"
rm -rf paymentcompletion buf google
files=(paymentcompletion/v1/payment_completion.proto buf/validate/validate.proto
	google/rpc/status.proto google/rpc/error_details.proto google/rpc/code.proto)
/usr/bin/protoc -I "$proto" --python_out=. "${files[@]}"
/usr/bin/python3 -m grpc_tools.protoc -I "$proto" -I /usr/include \
	--grpc_python_out=. paymentcompletion/v1/payment_completion.proto
cp "$here/../../gen/serviceconfig/service_config.json" paymentcompletion_client/service_config.json
