#!/usr/bin/env bash
# The contract with other toolchains: compiles proto/ with a current protoc
# (the npm package `protoc`, which ships the official binaries) and with
# Debian's protoc, each with every built-in generator, and checks that the
# file options reach the generated code (one Java file per message, the C#,
# PHP and Ruby namespaces, the Objective-C prefix). Then contract.test.mjs
# loads the contract in @grpc/proto-loader, from the .proto files and from
# each protoc's descriptor set, and completes calls with @grpc/grpc-js
# against the server at $PAYMENTCOMPLETION_ADDR (sessions from
# $DEMOCHECKOUT). Needs Debian's protobuf-compiler (.ci/clients.sh
# installs it with the Python client's packages).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
proto="$(cd "$here/../../proto" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$here"
npm ci --no-audit --no-fund --loglevel=error

files=()
while IFS= read -r f; do files+=("$f"); done < <(cd "$proto" && find . -name '*.proto' | sed 's|^\./||' | sort)

compile() {
	local name="$1" protoc="$2" include="$3" out="$work/$1"
	mkdir -p "$out"/{cpp,csharp,java,kotlin,objc,php,python,ruby}
	"$protoc" -I "$proto" -I "$include" --include_imports --descriptor_set_out="$work/$name.binpb" \
		--cpp_out="$out/cpp" --csharp_out="$out/csharp" --java_out="$out/java" --kotlin_out="$out/kotlin" \
		--objc_out="$out/objc" --python_out="$out/python" --ruby_out="$out/ruby" \
		"${files[@]}" 2> >(grep -v 'Extensions are not yet supported for proto2' >&2)
	# protoc's PHP generator refuses proto2 closed enums, which
	# buf/validate/validate.proto has: PHP gets the contract and google/rpc.
	"$protoc" -I "$proto" -I "$include" --php_out="$out/php" \
		paymentcompletion/v1/payment_completion.proto google/rpc/status.proto google/rpc/error_details.proto google/rpc/code.proto
	local want
	for want in java/com/paymentcompletion/v1/CompleteCheckoutRequest.java \
		java/com/paymentcompletion/v1/PaymentCompletionProto.java \
		php/Paymentcompletion/V1/Payment.php php/Paymentcompletion/V1/GPBMetadata/PaymentCompletion.php \
		java/com/google/rpc/ErrorInfo.java; do
		[[ -f "$out/$want" ]] || { echo "$name: no $want"; exit 1; }
	done
	grep -q 'namespace Paymentcompletion.V1' "$out/csharp/PaymentCompletion.cs" || { echo "$name: C# namespace missing"; exit 1; }
	# Ruby: current protoc writes Paymentcompletion::V1, 3.21 nested modules.
	grep -Eq '(Paymentcompletion::V1|^module Paymentcompletion$)' "$out/ruby/paymentcompletion/v1/payment_completion_pb.rb" || { echo "$name: Ruby package missing"; exit 1; }
	grep -q '@interface PXXPayment ' "$out/objc/paymentcompletion/v1/PaymentCompletion.pbobjc.h" || { echo "$name: Objective-C prefix missing"; exit 1; }
	echo "$name ($("$protoc" --version)): all generators, file options in the output"
}
compile current "$here/node_modules/.bin/protoc" "$here/node_modules/protoc/include"
compile debian /usr/bin/protoc /usr/include

CURRENT_PROTOSET="$work/current.binpb" DEBIAN_PROTOSET="$work/debian.binpb" PROTO_DIR="$proto" \
	node --test --test-reporter=spec "$here/contract.test.mjs"
