package grpcapi

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// TestOperationOutcomesDocumented: every outcome a money operation can
// answer (chargeops.Outcomes) is documented on its RPC's response in the
// proto, and every outcome documented there can be answered.
func TestOperationOutcomesDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "proto", "paymentcompletion", "v1", "payment_completion.proto"))
	if err != nil {
		t.Fatal(err)
	}
	proto := string(b)
	for msg, kind := range map[string]payment.OpKind{
		"CaptureChargeResponse": payment.OpCapture, "CancelChargeResponse": payment.OpCancel,
		"RefundChargeResponse": payment.OpRefund, "CreateChargeResponse": payment.OpCharge,
		"CloseChargePermissionResponse": payment.OpClose,
	} {
		documented := documentedOutcomes(t, proto, msg)
		var answered []string
		for _, o := range chargeops.Outcomes[kind] {
			answered = append(answered, outcomes[o].String())
		}
		slices.Sort(answered)
		if !slices.Equal(documented, answered) {
			t.Errorf("%s documents %v; the operation answers %v", msg, documented, answered)
		}
	}
}

// documentedOutcomes returns the OUTCOME_ names in the comment on the
// outcome field of message msg.
func documentedOutcomes(t *testing.T, proto, msg string) []string {
	t.Helper()
	start := strings.Index(proto, "\nmessage "+msg+" {")
	if start < 0 {
		t.Fatalf("message %s not found", msg)
	}
	body := proto[start+1:]
	body = body[:strings.Index(body, "\n}")]
	lines := strings.Split(body, "\n")
	field := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "Outcome outcome = ") })
	if field < 0 {
		t.Fatalf("%s has no outcome field", msg)
	}
	var comment []string
	for i := field - 1; i >= 0 && strings.HasPrefix(strings.TrimSpace(lines[i]), "//"); i-- {
		comment = append(comment, lines[i])
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`OUTCOME_[A-Z]+`).FindAllString(strings.Join(comment, " "), -1) {
		seen[m] = true
	}
	var out []string
	for o := range seen {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}
