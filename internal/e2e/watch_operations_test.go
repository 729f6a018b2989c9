package e2e_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
)

// TestWatchPaymentOperations: WatchPayment streams a payment's captures
// and refunds, and ends only once nothing on it can change by itself. The
// watches re-read only on notifications (their periodic recheck is an
// hour away), so every update proves the change feed: in-process on
// SQLite, and across replicas through PostgreSQL's LISTEN/NOTIFY (the
// operations are made through one replica and watched on another).
func TestWatchPaymentOperations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Refunds settle 2s after they are created.
			a := newAmazonSim(t, 2*time.Second)
			o := serviceOptions{WatchRecheck: time.Hour}
			writer := startService(t, a, func() serviceOptions {
				if tc.postgres {
					o.DatabaseURL = pgtest.URL(t)
				}
				return o
			}())
			watcher := writer
			if tc.postgres {
				watcher = startService(t, a, o)
			}
			ctx := t.Context()
			order := "order-watch-ops-" + tc.name
			p := completeOrder(t, a, writer, order, sessionSpec{Amount: "20.00", Scenario: "Authorized"})
			id := p.GetCheckoutSessionId()

			// Completed and nothing in flight: one update, then the end.
			if seen := waitFinal(t, watcher.Client, id, 30*time.Second); len(seen) != 1 {
				t.Errorf("watch of a settled payment sent %d updates, want 1", len(seen))
			}

			// Capture the charge, then refund part of it (Amazon decides
			// the refund 2s later).
			capture, err := writer.Client.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: p.GetChargeId(), CaptureAmount: usd("20.00"), IdempotencyKey: "ship-1"})
			if err != nil || capture.GetCharge().GetState() != pb.ChargeState_CHARGE_STATE_CAPTURED {
				t.Fatalf("CaptureCharge = %v, %v", capture, err)
			}
			refund, err := writer.Client.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: p.GetChargeId(), RefundAmount: usd("5.00"), IdempotencyKey: "cm-1"})
			if err != nil || refund.GetRefund().GetState() != pb.RefundState_REFUND_STATE_REFUND_INITIATED {
				t.Fatalf("RefundCharge = %v, %v", refund, err)
			}
			// The refund is in flight: the watch goes on until it settles.
			seen := waitFinal(t, watcher.Client, id, 30*time.Second)
			first, last := seen[0], seen[len(seen)-1]
			if first.GetCapturedAmount().GetAmount() != "20.00" || len(first.GetRefunds()) != 1 ||
				first.GetRefunds()[0].GetState() != pb.RefundState_REFUND_STATE_REFUND_INITIATED {
				t.Errorf("first update: captured %v, refunds %v; want 20.00 and the refund initiated", first.GetCapturedAmount(), first.GetRefunds())
			}
			if len(seen) < 2 || len(last.GetRefunds()) != 1 || last.GetRefunds()[0].GetState() != pb.RefundState_REFUND_STATE_REFUNDED ||
				last.GetRefundedAmount().GetAmount() != "5.00" {
				t.Errorf("the watch ended after %d updates, last with refunds %v refunded %v; want it to end with the refund refunded (5.00)",
					len(seen), last.GetRefunds(), last.GetRefundedAmount())
			}
			for i, u := range seen[:len(seen)-1] {
				if rs := u.GetRefunds(); len(rs) == 1 && rs[0].GetState() == pb.RefundState_REFUND_STATE_REFUNDED {
					t.Errorf("update %d of %d already shows the refund settled; the watch must end there", i+1, len(seen))
				}
			}
			for i := 1; i < len(seen); i++ {
				if proto.Equal(seen[i-1], seen[i]) {
					t.Errorf("updates %d and %d are the same", i, i+1)
				}
			}
		})
	}
}
