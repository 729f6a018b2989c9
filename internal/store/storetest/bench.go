package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// PollingStart is when PollingPass's first pass runs. Payments loaded to
// stand for the other tracked entries must not fall due before
// PollingStart+PollingHorizon.
var PollingStart = time.Date(2026, time.April, 1, 0, 0, 0, 0, time.UTC)

// PollingHorizon bounds how far PollingPass's clock advances (one second
// per pass).
const PollingHorizon = 7 * 24 * time.Hour

// PollingPass benchmarks the tracker's polling pass on s: one ClaimDue of
// the due pending payments (limit due) and one Reschedule of each, which
// makes them due again for the next pass. It creates the due payments
// itself, through s; whatever else s holds is the "tracked" population whose
// size the pass must not depend on.
//
// Besides ns/op it reports claim-ns/op, the part spent in ClaimDue.
func PollingPass(b *testing.B, s store.Store, due int) {
	b.Helper()
	ctx := b.Context()
	const step = time.Second
	for i := range due {
		id := fmt.Sprintf("cs-due-%07d", i)
		p := payment.Payment{
			CheckoutSessionID: id,
			OrderID:           "order-" + id,
			ChargeAmount:      payment.Money{Amount: "14.00", CurrencyCode: "USD"},
			Outcome:           payment.Completing,
			CreateTime:        PollingStart.Add(-time.Hour),
			UpdateTime:        PollingStart.Add(-time.Hour),
			NextCheckTime:     PollingStart.Add(-time.Hour),
		}
		if _, _, err := s.CreateAttempt(ctx, p, "bench"); err != nil {
			b.Fatalf("CreateAttempt: %v", err)
		}
		tr := payment.Transition{Outcome: payment.Pending, ChargeState: "AuthorizationInitiated", NextCheckTime: PollingStart.Add(-time.Duration(i) * time.Microsecond), Time: PollingStart.Add(-time.Hour)}
		if _, _, err := s.Transition(ctx, id, tr); err != nil {
			b.Fatalf("Transition: %v", err)
		}
	}
	pending := []payment.Outcome{payment.Pending}
	now := PollingStart
	var claimTime time.Duration
	passes := 0
	for b.Loop() {
		if now.Sub(PollingStart) > PollingHorizon {
			b.Fatalf("benchmark ran past PollingHorizon")
		}
		t0 := time.Now()
		claimed, err := s.ClaimDue(ctx, pending, now, due, time.Minute, "bench")
		claimTime += time.Since(t0)
		if err != nil {
			b.Fatalf("ClaimDue: %v", err)
		}
		if len(claimed) != due {
			b.Fatalf("ClaimDue claimed %d payments, want %d", len(claimed), due)
		}
		next := now.Add(step)
		for _, p := range claimed {
			if _, err := s.Reschedule(ctx, p.CheckoutSessionID, "bench", next, now); err != nil {
				b.Fatalf("Reschedule: %v", err)
			}
		}
		now = next
		passes++
	}
	b.ReportMetric(float64(claimTime.Nanoseconds())/float64(passes), "claim-ns/op")
}
