package main

import (
	"os"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/completion"
)

// serverReasons are the ErrorInfo reasons the gRPC server itself produces
// (the rest come from the domain, completion.Reasons).
var serverReasons = []string{"UNAUTHENTICATED", "SHUTTING_DOWN", "MALFORMED_REQUEST", "REQUEST_TOO_LARGE",
	"TOO_MANY_STREAMS_ON_CONNECTION", "TOO_MANY_WATCHES"}

// TestREADMEErrorTableNamesEveryReason keeps the README's error table
// exact: a row for every reason a caller can get.
func TestREADMEErrorTableNamesEveryReason(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n## Errors\n")
	table, _, _ = strings.Cut(table, "\n## ")
	for _, r := range append(append([]string(nil), completion.Reasons...), serverReasons...) {
		if !strings.Contains(table, " | `"+r+"` | ") {
			t.Errorf("README's error table has no row with reason %s", r)
		}
	}
}
