package main

import (
	"os"
	"strings"
	"testing"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/rpcstatus"
)

// TestErrorTableNamesEveryReason keeps the error table of docs/errors.md
// exact: a row for every reason of the contract (every one is produced by
// the domain or the server).
func TestErrorTableNamesEveryReason(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(doc), "\n## Errors\n")
	table, _, _ = strings.Cut(table, "\n## ")
	for v := range pb.ErrorReason_name {
		r := pb.ErrorReason(v)
		if r == pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
			continue
		}
		if reason := rpcstatus.Reason(r); !strings.Contains(table, " | `"+reason+"` | ") {
			t.Errorf("docs/errors.md's error table has no row with reason %s", reason)
		}
	}
}
