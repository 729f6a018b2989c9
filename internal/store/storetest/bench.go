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

// ListEnd is when the last of the payments the list benchmarks load was
// created; they are created one second apart before it. Loaders give the
// payment at position i (0 the oldest) the outcome ListOutcome(i).
var ListEnd = time.Date(2026, time.June, 1, 0, 0, 0, 0, time.UTC)

// ListOutcome is the outcome of the i-th loaded payment: as in production,
// nearly all completed, and one in a hundred each unknown, pending and
// declined.
func ListOutcome(i int) payment.Outcome {
	switch i % 100 {
	case 0:
		return payment.Unknown
	case 1:
		return payment.Pending
	case 2:
		return payment.Declined
	}
	return payment.Completed
}

// ListPages benchmarks List pages of 50 on s, which holds n payments
// loaded as ListEnd and ListOutcome describe: the first page of the
// payments needing attention (unknown, completing, pending), the same page
// from the middle of the listing, the first page of every payment, and a
// page of completed payments of one day. A page must cost the same
// whatever n is.
func ListPages(b *testing.B, s store.Store, n int) {
	b.Helper()
	start := ListEnd.Add(-time.Duration(n) * time.Second)
	middle := start.Add(time.Duration(n/2) * time.Second)
	attention := []payment.Outcome{payment.Unknown, payment.Completing, payment.Pending}
	for _, tt := range []struct {
		name string
		q    store.ListQuery
	}{
		{"attention", store.ListQuery{Outcomes: attention, Limit: 50}},
		{"attention_middle", store.ListQuery{Outcomes: attention, After: &store.ListPosition{CreateTime: middle, CheckoutSessionID: "~"}, Limit: 50}},
		{"all", store.ListQuery{Limit: 50}},
		{"completed_one_day", store.ListQuery{Outcomes: []payment.Outcome{payment.Completed}, CreatedFrom: middle.Add(-24 * time.Hour), CreatedBefore: middle, Limit: 50}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				ps, err := s.List(b.Context(), tt.q)
				if err != nil {
					b.Fatalf("List: %v", err)
				}
				if len(ps) != tt.q.Limit {
					b.Fatalf("List returned %d payments, want %d", len(ps), tt.q.Limit)
				}
			}
		})
	}
}
