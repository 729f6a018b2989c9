// Command protovendor writes the third-party .proto files this repository
// imports or ships into proto/, reconstructed from the descriptors compiled
// into the pinned Go modules:
//
//   - buf/validate/validate.proto (buf.build/gen/go/bufbuild/protovalidate),
//     imported by the contract;
//   - google/rpc/status.proto, error_details.proto and code.proto
//     (google.golang.org/genproto/googleapis/rpc), the error model every
//     error of the service uses, shipped so that generators in any language
//     find them beside the contract.
//
// The proto source of protovalidate is published only through a schema
// registry that builds here cannot reach; the Go modules carry the same
// descriptors, so printing them back gives files that compile to identical
// FileDescriptorProtos (comments are lost). Each printed file is compiled
// again and compared with its descriptor before it is written.
//
// It lives in the tools module (tools/go.mod), so that its own dependencies
// (protocompile, the protoreflect printer) stay out of the server's module
// graph; tools/go.mod pins protovalidate and genproto to the versions the
// server's go.mod has (CI compares them). go generate runs it, and so can
// you after bumping either module, from the repository root:
//
//	go -C tools run ./protovendor ../proto
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	validate "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/bufbuild/protocompile"
	"github.com/jhump/protoreflect/v2/protoprint"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// vendored lists the files to write, with the Go module each comes from
// and the copyright of its original.
var vendored = []struct {
	file      protoreflect.FileDescriptor
	module    string
	copyright string
}{
	{validate.File_buf_validate_validate_proto, "buf.build/gen/go/bufbuild/protovalidate", "Copyright 2023-2026 Buf Technologies, Inc."},
	{status.File_google_rpc_status_proto, "google.golang.org/genproto/googleapis/rpc", "Copyright Google LLC"},
	{errdetails.File_google_rpc_error_details_proto, "google.golang.org/genproto/googleapis/rpc", "Copyright Google LLC"},
	{code.File_google_rpc_code_proto, "google.golang.org/genproto/googleapis/rpc", "Copyright Google LLC"},
}

const header = `// Code reconstructed by tools/protovendor from the descriptor compiled
// into %s. DO NOT EDIT.
//
// %s
// Licensed under the Apache License, Version 2.0
// (http://www.apache.org/licenses/LICENSE-2.0). Comments of the original
// file are not carried by its descriptor and are therefore absent here.

`

const oneofNote = `// Its proto3 optional fields are written as the one-field oneofs their
// descriptors hold (same wire format, JSON and presence), which protoc
// before 3.12 compiles too.

`

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: protovendor DIR (the proto/ directory to write into)")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "protovendor:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	printed := make(map[string]string, len(vendored))
	sources := make(map[string]protoreflect.FileDescriptor, len(vendored))
	for _, v := range vendored {
		fd, err := withoutProto3Optional(v.file)
		if err != nil {
			return fmt.Errorf("%s: %w", v.file.Path(), err)
		}
		head := fmt.Sprintf(header, v.module, v.copyright)
		if fd != v.file {
			head += oneofNote
		}
		text, err := printFile(fd, head)
		if err != nil {
			return fmt.Errorf("%s: %w", v.file.Path(), err)
		}
		printed[v.file.Path()] = text
		sources[v.file.Path()] = fd
	}
	if err := verify(printed, sources); err != nil {
		return err
	}
	for name, text := range printed {
		out := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// withoutProto3Optional returns fd with every proto3 `optional` field
// written as the one-field oneof the descriptor already holds for it
// (`oneof _x { int64 x = 8; }`): the same wire format, JSON name and
// presence, and a descriptor that differs only by the field's
// proto3_optional flag. protoc before 3.12 (libprotoc 3.5 of Debian's
// python3-grpc-tools among them) refuses `optional` in proto3 files, and
// google/rpc/error_details.proto has one such field.
func withoutProto3Optional(fd protoreflect.FileDescriptor) (protoreflect.FileDescriptor, error) {
	fdp := protodesc.ToFileDescriptorProto(fd)
	changed := false
	var clear func(msgs []*descriptorpb.DescriptorProto)
	clear = func(msgs []*descriptorpb.DescriptorProto) {
		for _, m := range msgs {
			for _, f := range m.GetField() {
				if f.GetProto3Optional() {
					f.Proto3Optional = nil
					changed = true
				}
			}
			clear(m.GetNestedType())
		}
	}
	clear(fdp.GetMessageType())
	if !changed {
		return fd, nil
	}
	return protodesc.NewFile(fdp, protoregistry.GlobalFiles)
}

func printFile(fd protoreflect.FileDescriptor, header string) (string, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	if err := (&protoprint.Printer{}).PrintProtoFile(fd, &buf); err != nil {
		return "", fmt.Errorf("print: %w", err)
	}
	return splitMessageLists(buf.String()), nil
}

// splitMessageLists rewrites list values of message literals in options,
// `cel: [ {…}, {…} ]`, as one `cel: {…}` per element, which the text format
// allows for repeated fields and which is how the original files are
// written. protobufjs (what @grpc/proto-loader uses) cannot parse a list of
// message literals, and this keeps it able to load the contract from its
// .proto files.
func splitMessageLists(s string) string {
	var out strings.Builder
	for {
		start, name := findMessageList(s)
		if start < 0 {
			out.WriteString(s)
			return out.String()
		}
		out.WriteString(s[:start])
		indent := s[strings.LastIndexByte(s[:start], '\n')+1 : start]
		rest := s[start+len(name)+len(": ["):]
		var elems []string
		for {
			rest = strings.TrimLeft(rest, " \n,")
			if rest[0] == ']' {
				rest = rest[1:]
				break
			}
			n := literalEnd(rest)
			// Elements of a multi-line list are indented one level deeper
			// than the field name; take that level away.
			elems = append(elems, strings.ReplaceAll(rest[:n], "\n  ", "\n"))
			rest = rest[n:]
		}
		for i, e := range elems {
			if i > 0 {
				out.WriteString("\n" + indent)
			}
			out.WriteString(name + ": " + e)
		}
		s = rest
	}
}

// findMessageList finds the next `name: [` whose first element is a message
// literal, and returns its offset and the field name (-1 when none).
func findMessageList(s string) (int, string) {
	off := 0
	for {
		i := strings.Index(s[off:], ": [")
		if i < 0 {
			return -1, ""
		}
		i += off
		after := strings.TrimLeft(s[i+3:], " \n")
		j := i
		for j > 0 && (isIdent(s[j-1])) {
			j--
		}
		if j < i && strings.HasPrefix(after, "{") && !insideString(s, j) {
			return j, s[j:i]
		}
		off = i + 3
	}
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// insideString reports whether offset i of s lies inside a string literal on
// its line.
func insideString(s string, i int) bool {
	line := s[strings.LastIndexByte(s[:i], '\n')+1 : i]
	var quote byte
	for k := 0; k < len(line); k++ {
		switch c := line[k]; {
		case quote != 0 && c == '\\':
			k++
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		}
	}
	return quote != 0
}

// literalEnd returns the length of the message literal `{…}` at the start of
// s, skipping braces inside string literals.
func literalEnd(s string) int {
	depth := 0
	var quote byte
	for k := 0; k < len(s); k++ {
		c := s[k]
		switch {
		case quote != 0 && c == '\\':
			k++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			quote = c
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return k + 1
			}
		}
	}
	panic("unterminated message literal")
}

// verify compiles the printed files and checks that each gives the same
// FileDescriptorProto as the descriptor it was printed from (sources).
func verify(printed map[string]string, sources map[string]protoreflect.FileDescriptor) error {
	names := make([]string, 0, len(printed))
	for name := range printed {
		names = append(names, name)
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(printed),
		}),
	}
	files, err := c.Compile(context.Background(), names...)
	if err != nil {
		return fmt.Errorf("printed files do not compile: %w", err)
	}
	for _, f := range files {
		want, ok := sources[f.Path()]
		if !ok {
			return fmt.Errorf("%s: compiled but not printed", f.Path())
		}
		got, err := canonical(protodesc.ToFileDescriptorProto(f))
		if err != nil {
			return err
		}
		exp, err := canonical(protodesc.ToFileDescriptorProto(want))
		if err != nil {
			return err
		}
		if !proto.Equal(got, exp) {
			return fmt.Errorf("%s: the printed file compiles to a different descriptor than the one it was printed from", f.Path())
		}
	}
	return nil
}

// canonical round-trips a descriptor through its wire form with the global
// registry, so that options are compared as parsed extensions whichever way
// each side holds them.
func canonical(fd *descriptorpb.FileDescriptorProto) (*descriptorpb.FileDescriptorProto, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fd)
	if err != nil {
		return nil, err
	}
	out := &descriptorpb.FileDescriptorProto{}
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(b, out); err != nil {
		return nil, err
	}
	out.SourceCodeInfo = nil
	return out, nil
}
