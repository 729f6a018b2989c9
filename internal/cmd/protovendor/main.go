// Command protovendor writes the third-party .proto files this repository
// imports (buf/validate/validate.proto) into proto/, reconstructed from the
// descriptors compiled into the pinned Go modules.
//
// The proto source of protovalidate is published only through a schema
// registry that builds here cannot reach; the Go module carries the same
// descriptor, so printing it back gives a file that compiles to an identical
// FileDescriptorProto (comments are lost). Run it after bumping
// buf.build/gen/go/bufbuild/protovalidate:
//
//	go run ./internal/cmd/protovendor
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	validate "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/desc/protoprint"
)

const header = `// Code reconstructed by internal/cmd/protovendor from the descriptor compiled
// into buf.build/gen/go/bufbuild/protovalidate. DO NOT EDIT.
//
// Copyright 2023-2026 Buf Technologies, Inc.
// Licensed under the Apache License, Version 2.0
// (http://www.apache.org/licenses/LICENSE-2.0). Comments of the original
// file are not carried by its descriptor and are therefore absent here.

`

func main() {
	if err := run("proto"); err != nil {
		fmt.Fprintln(os.Stderr, "protovendor:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	fd, err := desc.WrapFile(validate.File_buf_validate_validate_proto)
	if err != nil {
		return fmt.Errorf("wrap descriptor: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(header)
	p := protoprint.Printer{}
	if err := p.PrintProtoFile(fd, &buf); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	out := filepath.Join(root, fd.GetName())
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
