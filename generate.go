// Package paymentcompletion is the root of the paymentcompletion module: a
// gRPC service that completes Amazon Pay (Checkout v2) payments for a
// storefront. The service is in ./server, its command-line client in
// ./client, the contract in proto/ and its generated code in gen/.
//
// This file only carries the code generation steps, so that
//
//	go generate ./...
//
// regenerates everything derived from the contract: first the vendored
// buf/validate/validate.proto and google/rpc/*.proto (rebuilt from the
// pinned protovalidate and genproto Go modules), then gen/ with buf and the
// protoc plugins (protoc-gen-go from go.mod, the others from tools/go.mod;
// the old *.pb.go files are deleted first, so that a removed .proto leaves
// none behind, and the rest of the gen module is kept),
// and last the TypeScript client's code in clients/ts/gen (protoc-gen-es
// from that package's locked npm dependencies).
// CI runs the same command and fails when the result differs from what is
// committed.
package paymentcompletion

//go:generate go -C tools run ./protovendor ../proto
//go:generate find gen -name *.pb.go -delete
//go:generate go tool -modfile=tools/go.mod buf generate
//go:generate bash clients/ts/generate.sh
