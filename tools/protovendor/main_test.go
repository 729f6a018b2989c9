package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

var optionalLabel = regexp.MustCompile(`(?m)^\s*optional `)

func TestSplitMessageLists(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"one line", "  cel: [ { id: \"a\" } ]\n", "  cel: { id: \"a\" }\n"},
		{"two elements", "  cel: [ { id: \"a\" }, { id: \"b\" } ]\n", "  cel: { id: \"a\" }\n  cel: { id: \"b\" }\n"},
		{
			"multi-line",
			"    cel: [\n      {\n        id: \"a\",\n        expression: \"'}' + x\"\n      }\n    ]\n",
			"    cel: {\n      id: \"a\",\n      expression: \"'}' + x\"\n    }\n",
		},
		{"scalar list kept", "  in: [ 1, 2 ]\n", "  in: [ 1, 2 ]\n"},
		{"inside a string kept", "  expression: \"x: [ {\"\n", "  expression: \"x: [ {\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := splitMessageLists(tt.in); got != tt.want {
				t.Errorf("splitMessageLists(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestRunWritesVerifiedFiles runs the whole command into a temporary
// directory: every file is printed, recompiled and compared with its
// descriptor, and no message list is left for protobufjs to choke on.
func TestRunWritesVerifiedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	for _, v := range vendored {
		b, err := os.ReadFile(filepath.Join(dir, v.file.Path()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "cel: [") {
			t.Errorf("%s still has a list of message literals", v.file.Path())
		}
		// protoc before 3.12 refuses `optional` in proto3 files.
		if v.file.Syntax() == protoreflect.Proto3 && optionalLabel.Match(b) {
			t.Errorf("%s has a proto3 optional field", v.file.Path())
		}
	}
}
