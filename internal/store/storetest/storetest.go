// Package storetest is the conformance suite every store.Store
// implementation must pass, so that the completion logic and the tracker can
// rely on the behaviour documented on store.Store whichever database is
// configured.
package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; Run closes it when the test that opened it ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	s := &suite{open: func(t *testing.T) store.Store {
		t.Helper()
		st := open(t)
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return st
	}}
	tests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"create_attempt", s.testCreateAttempt},
		{"create_attempt_rejects_invalid", s.testCreateAttemptInvalid},
		{"create_attempt_concurrent_duplicates", s.testCreateAttemptConcurrent},
		{"get_not_found", s.testGetNotFound},
		{"get_latest_by_order", s.testGetLatestByOrder},
		{"delete_attempt", s.testDeleteAttempt},
		{"transition_every_pair", s.testTransitionEveryPair},
		{"transition_keeps_learned_ids", s.testTransitionKeepsIDs},
		{"transition_not_found", s.testTransitionNotFound},
		{"transition_concurrent", s.testTransitionConcurrent},
		{"claim_due_filters_and_orders", s.testClaimDueFilters},
		{"claim_due_limit", s.testClaimDueLimit},
		{"claim_due_expired_lease", s.testClaimDueExpiredLease},
		{"claim_due_concurrent_claimers", s.testClaimDueConcurrent},
		{"reschedule", s.testReschedule},
		{"list_filters_and_orders", s.testList},
		{"list_pages_across_inserts", s.testListPages},
		{"list_rejects_invalid", s.testListInvalid},
		{"transition_counts_checks", s.testTransitionCountsChecks},
		{"extend_lease", s.testExtendLease},
		{"times_utc_and_precision", s.testTimes},
		{"ping", s.testPing},
		{"backlog", s.testBacklog},
		{"nudge", s.testNudge},
		{"nudge_during_lease", s.testNudgeDuringLease},
		{"trace_parent_kept", s.testTraceParent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

type suite struct {
	open func(t *testing.T) store.Store
}

// base is the suite's clock. It has microsecond precision, which every
// implementation keeps exactly, so stored payments compare equal.
var base = time.Date(2026, time.March, 14, 9, 26, 53, 589793000, time.UTC)

const owner = "worker-a"

// attempt returns a payment ready for CreateAttempt.
func attempt(id, orderID string, created time.Time) payment.Payment {
	return payment.Payment{
		CheckoutSessionID: id,
		OrderID:           orderID,
		ChargeAmount:      payment.Money{Amount: "14.00", CurrencyCode: "USD"},
		Outcome:           payment.Completing,
		CreateTime:        created,
		UpdateTime:        created,
		NextCheckTime:     created.Add(30 * time.Second),
	}
}

func mustCreate(t *testing.T, s store.Store, p payment.Payment, leaseOwner string) payment.Payment {
	t.Helper()
	got, created, err := s.CreateAttempt(t.Context(), p, leaseOwner)
	if err != nil || !created {
		t.Fatalf("CreateAttempt(%s) = created %v, %v; want created", p.CheckoutSessionID, created, err)
	}
	return got
}

func mustTransition(t *testing.T, s store.Store, id string, tr payment.Transition) payment.Payment {
	t.Helper()
	got, changed, err := s.Transition(t.Context(), id, tr)
	if err != nil || !changed {
		t.Fatalf("Transition(%s, %s) = changed %v, %v; want changed", id, tr.Outcome, changed, err)
	}
	return got
}

// mustPending creates a payment and moves it to pending, due at due.
func mustPending(t *testing.T, s store.Store, id string, due time.Time) payment.Payment {
	t.Helper()
	mustCreate(t, s, attempt(id, "order-"+id, base.Add(-time.Hour)), owner)
	return mustTransition(t, s, id, payment.Transition{
		Outcome:            payment.Pending,
		ChargePermissionID: "S01-0000000-0000000",
		ChargeID:           "S01-0000000-0000000-C000000",
		ChargeState:        "AuthorizationInitiated",
		NextCheckTime:      due,
		Time:               base.Add(-time.Hour),
	})
}

func mustGet(t *testing.T, s store.Store, id string) payment.Payment {
	t.Helper()
	got, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return got
}

func ids(ps []payment.Payment) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.CheckoutSessionID
	}
	return out
}

func (s *suite) testCreateAttempt(t *testing.T) {
	st := s.open(t)
	tests := []struct {
		name  string
		total *payment.Money
	}{
		{"without_total", nil},
		{"with_total", &payment.Money{Amount: "20.50", CurrencyCode: "USD"}},
		{"with_zero_decimal_currency", &payment.Money{Amount: "1000", CurrencyCode: "JPY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			p := attempt("cs-create-"+tt.name, "order-"+tt.name, base)
			p.TotalOrderAmount = tt.total
			got, created, err := st.CreateAttempt(ctx, p, owner)
			if err != nil || !created {
				t.Fatalf("CreateAttempt = created %v, %v; want created", created, err)
			}
			want := p
			want.LeaseOwner = owner
			want.Version = 1
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("CreateAttempt stored (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, mustGet(t, st, p.CheckoutSessionID)); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}

			// A repeat, even one asking for something else, changes
			// nothing and returns what is stored.
			dup := attempt(p.CheckoutSessionID, "other-order", base.Add(time.Minute))
			dup.ChargeAmount = payment.Money{Amount: "99.00", CurrencyCode: "EUR"}
			got, created, err = st.CreateAttempt(ctx, dup, "worker-b")
			if err != nil || created {
				t.Fatalf("duplicate CreateAttempt = created %v, %v; want not created", created, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("duplicate CreateAttempt returned (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, mustGet(t, st, p.CheckoutSessionID)); diff != "" {
				t.Errorf("Get after duplicate (-want +got):\n%s", diff)
			}
		})
	}
}

func (s *suite) testCreateAttemptInvalid(t *testing.T) {
	st := s.open(t)
	tests := []struct {
		name   string
		edit   func(*payment.Payment)
		leaser string
	}{
		{"not_completing", func(p *payment.Payment) { p.Outcome = payment.Pending }, owner},
		{"no_session", func(p *payment.Payment) { p.CheckoutSessionID = "" }, owner},
		{"no_create_time", func(p *payment.Payment) { p.CreateTime = time.Time{} }, owner},
		{"no_lease_expiry", func(p *payment.Payment) { p.NextCheckTime = time.Time{} }, owner},
		{"no_lease_owner", func(*payment.Payment) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := attempt("cs-invalid-"+tt.name, "order-invalid", base)
			tt.edit(&p)
			if _, _, err := st.CreateAttempt(t.Context(), p, tt.leaser); err == nil {
				t.Fatal("CreateAttempt succeeded, want an error")
			}
			if _, err := st.Get(t.Context(), "cs-invalid-"+tt.name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get after rejected CreateAttempt = %v, want ErrNotFound", err)
			}
		})
	}
}

func (s *suite) testCreateAttemptConcurrent(t *testing.T) {
	st := s.open(t)
	const n = 50
	type result struct {
		p       payment.Payment
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := attempt("cs-race", fmt.Sprintf("order-%d", i), base)
			got, created, err := st.CreateAttempt(t.Context(), p, fmt.Sprintf("worker-%d", i))
			results[i] = result{got, created, err}
		})
	}
	wg.Wait()
	winner := -1
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("CreateAttempt %d: %v", i, r.err)
		}
		if r.created {
			if winner >= 0 {
				t.Fatalf("CreateAttempt created by both %d and %d", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no CreateAttempt created the payment")
	}
	want := results[winner].p
	if want.OrderID != fmt.Sprintf("order-%d", winner) || want.LeaseOwner != fmt.Sprintf("worker-%d", winner) {
		t.Errorf("stored payment order %q owner %q, want the winner's (%d)", want.OrderID, want.LeaseOwner, winner)
	}
	for i, r := range results {
		if diff := cmp.Diff(want, r.p); diff != "" {
			t.Errorf("CreateAttempt %d returned a different payment (-winner +got):\n%s", i, diff)
		}
	}
}

func (s *suite) testGetNotFound(t *testing.T) {
	st := s.open(t)
	mustCreate(t, st, attempt("cs-exists", "order-exists", base), owner)
	if _, err := st.Get(t.Context(), "cs-missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	if _, err := st.GetLatestByOrder(t.Context(), "order-missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetLatestByOrder(missing) = %v, want ErrNotFound", err)
	}
}

func (s *suite) testGetLatestByOrder(t *testing.T) {
	st := s.open(t)
	// Created out of order so that insertion order cannot pass for
	// creation order.
	mustCreate(t, st, attempt("cs-b", "order-1", base.Add(2*time.Minute)), owner)
	mustCreate(t, st, attempt("cs-c", "order-1", base.Add(3*time.Minute)), owner)
	mustCreate(t, st, attempt("cs-a", "order-1", base.Add(time.Minute)), owner)
	mustCreate(t, st, attempt("cs-other", "order-2", base.Add(time.Hour)), owner)
	// A later change to an older payment does not make it the latest.
	mustTransition(t, st, "cs-b", payment.Transition{Outcome: payment.Unknown, NextCheckTime: base.Add(2 * time.Hour), Time: base.Add(time.Hour)})

	tests := []struct {
		order, want string
	}{
		{"order-1", "cs-c"},
		{"order-2", "cs-other"},
	}
	for _, tt := range tests {
		got, err := st.GetLatestByOrder(t.Context(), tt.order)
		if err != nil {
			t.Fatalf("GetLatestByOrder(%s): %v", tt.order, err)
		}
		if got.CheckoutSessionID != tt.want {
			t.Errorf("GetLatestByOrder(%s) = %s, want %s", tt.order, got.CheckoutSessionID, tt.want)
		}
		if diff := cmp.Diff(mustGet(t, st, tt.want), got); diff != "" {
			t.Errorf("GetLatestByOrder(%s) differs from Get (-get +latest):\n%s", tt.order, diff)
		}
	}
}

func (s *suite) testDeleteAttempt(t *testing.T) {
	st := s.open(t)
	tests := []struct {
		name    string
		setup   func(t *testing.T, id string)
		owner   string
		wantErr error
	}{
		{
			name:  "completing_own_lease",
			setup: func(t *testing.T, id string) { mustCreate(t, st, attempt(id, "order-del", base), owner) },
			owner: owner,
		},
		{
			name:    "completing_other_owner",
			setup:   func(t *testing.T, id string) { mustCreate(t, st, attempt(id, "order-del", base), owner) },
			owner:   "worker-b",
			wantErr: store.ErrLeaseLost,
		},
		{
			name:    "completing_empty_owner",
			setup:   func(t *testing.T, id string) { mustCreate(t, st, attempt(id, "order-del", base), owner) },
			owner:   "",
			wantErr: store.ErrLeaseLost,
		},
		{
			name: "reclaimed_by_reconciler",
			setup: func(t *testing.T, id string) {
				p := attempt(id, "order-del", base.Add(-time.Hour))
				mustCreate(t, st, p, owner)
				claimed, err := st.ClaimDue(t.Context(), []payment.Outcome{payment.Completing}, p.NextCheckTime, 1, time.Minute, "reconciler")
				if err != nil || len(claimed) != 1 || claimed[0].CheckoutSessionID != id {
					t.Fatalf("ClaimDue = %v, %v; want %s", ids(claimed), err, id)
				}
			},
			owner:   owner,
			wantErr: store.ErrLeaseLost,
		},
		{
			name: "no_longer_completing",
			setup: func(t *testing.T, id string) {
				mustCreate(t, st, attempt(id, "order-del", base), owner)
				// Unknown keeps nothing in flight, and the lease is cleared.
				mustTransition(t, st, id, payment.Transition{Outcome: payment.Unknown, NextCheckTime: base.Add(time.Minute), Time: base})
			},
			owner:   owner,
			wantErr: store.ErrLeaseLost,
		},
		{
			name:    "missing",
			setup:   func(*testing.T, string) {},
			owner:   owner,
			wantErr: store.ErrLeaseLost,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := "cs-delete-" + tt.name
			tt.setup(t, id)
			before, beforeErr := st.Get(t.Context(), id)
			err := st.DeleteAttempt(t.Context(), id, tt.owner)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("DeleteAttempt = %v, want %v", err, tt.wantErr)
			}
			after, afterErr := st.Get(t.Context(), id)
			if tt.wantErr == nil {
				if !errors.Is(afterErr, store.ErrNotFound) {
					t.Errorf("Get after DeleteAttempt = %v, want ErrNotFound", afterErr)
				}
				return
			}
			if (beforeErr == nil) != (afterErr == nil) {
				t.Fatalf("Get before/after failed DeleteAttempt: %v / %v", beforeErr, afterErr)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("failed DeleteAttempt changed the payment (-before +after):\n%s", diff)
			}
		})
	}
}

// transitionTo is the transition the every-pair test records to reach o.
func transitionTo(o payment.Outcome, at time.Time) payment.Transition {
	tr := payment.Transition{
		Outcome:            o,
		ChargePermissionID: "S01-1111111-1111111",
		ChargeID:           "S01-1111111-1111111-C" + fmt.Sprintf("%06d", o.Rank()),
		ChargeState:        "state-" + string(o),
		Time:               at,
	}
	if !o.Final() {
		tr.NextCheckTime = at.Add(time.Duration(o.Rank()) * time.Minute)
	}
	if o == payment.Declined || o == payment.Canceled {
		tr.ReasonCode = "reason-" + string(o)
	}
	return tr
}

var allOutcomes = []payment.Outcome{
	payment.Completing, payment.Unknown, payment.Pending,
	payment.Completed, payment.Declined, payment.Canceled,
}

func (s *suite) testTransitionEveryPair(t *testing.T) {
	st := s.open(t)
	for _, from := range allOutcomes {
		for _, to := range allOutcomes {
			t.Run(string(from)+"_to_"+string(to), func(t *testing.T) {
				t.Parallel()
				id := "cs-" + string(from) + "-" + string(to)
				before := mustCreate(t, st, attempt(id, "order-pair", base), owner)
				if from != payment.Completing {
					before = mustTransition(t, st, id, transitionTo(from, base.Add(time.Second)))
				}
				tr := transitionTo(to, base.Add(time.Hour))
				got, changed, err := st.Transition(t.Context(), id, tr)
				if err != nil {
					t.Fatalf("Transition: %v", err)
				}
				wantChanged := to.Rank() > from.Rank()
				if changed != wantChanged {
					t.Fatalf("Transition changed = %v, want %v", changed, wantChanged)
				}
				want := before
				if wantChanged {
					want.Outcome = to
					want.ChargePermissionID = tr.ChargePermissionID
					want.ChargeID = tr.ChargeID
					want.ChargeState = tr.ChargeState
					if tr.ReasonCode != "" {
						want.ReasonCode = tr.ReasonCode
					}
					want.UpdateTime = tr.Time
					want.NextCheckTime = tr.NextCheckTime
					want.LeaseOwner = ""
					want.Version = before.Version + 1
					if to.Final() {
						want.SettleTime = tr.Time
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Transition returned (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(want, mustGet(t, st, id)); diff != "" {
					t.Errorf("Get after Transition (-want +got):\n%s", diff)
				}
				if to.Final() && wantChanged && (!got.NextCheckTime.IsZero() || got.SettleTime.IsZero()) {
					t.Errorf("final payment next check %v, settle %v; want none and set", got.NextCheckTime, got.SettleTime)
				}
			})
		}
	}
}

func (s *suite) testTransitionKeepsIDs(t *testing.T) {
	st := s.open(t)
	const id = "cs-keep"
	mustCreate(t, st, attempt(id, "order-keep", base), owner)
	mustTransition(t, st, id, payment.Transition{
		Outcome:            payment.Unknown,
		ChargePermissionID: "S01-2222222-2222222",
		ChargeState:        "AuthorizationInitiated",
		NextCheckTime:      base.Add(time.Minute),
		Time:               base.Add(time.Second),
	})
	mustTransition(t, st, id, payment.Transition{
		Outcome:       payment.Pending,
		ChargeID:      "S01-2222222-2222222-C000001",
		NextCheckTime: base.Add(2 * time.Minute),
		Time:          base.Add(2 * time.Second),
	})
	got := mustTransition(t, st, id, payment.Transition{
		Outcome:     payment.Declined,
		ReasonCode:  "HardDeclined",
		ChargeState: "Declined",
		Time:        base.Add(3 * time.Second),
	})
	want := struct{ Perm, Charge, Reason, State string }{"S01-2222222-2222222", "S01-2222222-2222222-C000001", "HardDeclined", "Declined"}
	gotIDs := struct{ Perm, Charge, Reason, State string }{got.ChargePermissionID, got.ChargeID, got.ReasonCode, got.ChargeState}
	if want != gotIDs {
		t.Errorf("learned IDs = %+v, want %+v (empty transition fields must keep stored values)", gotIDs, want)
	}
	if got.Version != 4 {
		t.Errorf("Version = %d after create and three transitions, want 4", got.Version)
	}
}

func (s *suite) testTransitionNotFound(t *testing.T) {
	st := s.open(t)
	_, changed, err := st.Transition(t.Context(), "cs-missing", transitionTo(payment.Completed, base))
	if !errors.Is(err, store.ErrNotFound) || changed {
		t.Errorf("Transition(missing) = changed %v, %v; want ErrNotFound", changed, err)
	}
}

// testTransitionConcurrent races transitions to every outcome on one
// payment: whatever the interleaving, the payment ends at a final outcome,
// passed through ranks in increasing order only, and its Version counts
// exactly the transitions that changed it.
func (s *suite) testTransitionConcurrent(t *testing.T) {
	st := s.open(t)
	const id = "cs-concurrent-transitions"
	mustCreate(t, st, attempt(id, "order-ct", base), owner)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changes []payment.Payment
	)
	for round := range 5 {
		for _, o := range allOutcomes {
			wg.Go(func() {
				got, changed, err := st.Transition(t.Context(), id, transitionTo(o, base.Add(time.Duration(round)*time.Second)))
				if err != nil {
					t.Errorf("Transition(%s): %v", o, err)
					return
				}
				if changed {
					mu.Lock()
					changes = append(changes, got)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	final := mustGet(t, st, id)
	if !final.Outcome.Final() {
		t.Fatalf("outcome after racing transitions = %s, want a final one", final.Outcome)
	}
	if final.Version != int64(1+len(changes)) {
		t.Errorf("Version = %d, want 1 + %d changes", final.Version, len(changes))
	}
	slices.SortFunc(changes, func(a, b payment.Payment) int { return int(a.Version - b.Version) })
	for i := 1; i < len(changes); i++ {
		if changes[i].Outcome.Rank() <= changes[i-1].Outcome.Rank() {
			t.Errorf("version %d moved %s -> %s", changes[i].Version, changes[i-1].Outcome, changes[i].Outcome)
		}
	}
}

func (s *suite) testClaimDueFilters(t *testing.T) {
	st := s.open(t)
	ctx := t.Context()
	now := base
	mustPending(t, st, "cs-pending-2", now.Add(-time.Minute))
	mustPending(t, st, "cs-pending-1", now.Add(-2*time.Minute))
	mustPending(t, st, "cs-pending-now", now)
	mustPending(t, st, "cs-pending-future", now.Add(time.Millisecond))
	mustCreate(t, st, attempt("cs-unknown", "order-u", now.Add(-time.Hour)), owner)
	mustTransition(t, st, "cs-unknown", payment.Transition{Outcome: payment.Unknown, NextCheckTime: now.Add(-90 * time.Second), Time: now.Add(-time.Hour)})
	// An abandoned attempt: its in-flight lease ran out three minutes ago.
	abandoned := attempt("cs-abandoned", "order-ab", now.Add(-4*time.Minute))
	abandoned.NextCheckTime = now.Add(-3 * time.Minute)
	mustCreate(t, st, abandoned, owner)
	// An attempt still in flight.
	mustCreate(t, st, attempt("cs-in-flight", "order-if", now), owner)
	mustPending(t, st, "cs-completed", now.Add(-time.Hour))
	mustTransition(t, st, "cs-completed", payment.Transition{Outcome: payment.Completed, Time: now.Add(-time.Hour)})

	before := map[string]payment.Payment{}
	for _, id := range []string{"cs-pending-1", "cs-pending-2", "cs-pending-now", "cs-abandoned", "cs-unknown"} {
		before[id] = mustGet(t, st, id)
	}
	const lease = 45 * time.Second
	check := func(t *testing.T, outcomes []payment.Outcome, wantIDs []string, claimer string) {
		t.Helper()
		got, err := st.ClaimDue(ctx, outcomes, now, 10, lease, claimer)
		if err != nil {
			t.Fatalf("ClaimDue(%v): %v", outcomes, err)
		}
		if diff := cmp.Diff(wantIDs, ids(got)); diff != "" {
			t.Fatalf("ClaimDue(%v) claimed (-want +got):\n%s", outcomes, diff)
		}
		for _, p := range got {
			want := before[p.CheckoutSessionID]
			want.NextCheckTime = now.Add(lease)
			want.LeaseOwner = claimer
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("claimed %s (-want +got):\n%s", p.CheckoutSessionID, diff)
			}
			if diff := cmp.Diff(want, mustGet(t, st, p.CheckoutSessionID)); diff != "" {
				t.Errorf("Get after claim %s (-want +got):\n%s", p.CheckoutSessionID, diff)
			}
		}
	}
	check(t, []payment.Outcome{payment.Pending}, []string{"cs-pending-1", "cs-pending-2", "cs-pending-now"}, "poller")
	check(t, []payment.Outcome{payment.Unknown, payment.Completing}, []string{"cs-abandoned", "cs-unknown"}, "reconciler")
	// Everything due is now leased.
	check(t, allOutcomes, []string{}, "anyone")
	if got, err := st.ClaimDue(ctx, nil, now, 10, lease, "anyone"); err != nil || len(got) != 0 {
		t.Errorf("ClaimDue(no outcomes) = %v, %v; want none", ids(got), err)
	}
}

func (s *suite) testClaimDueLimit(t *testing.T) {
	st := s.open(t)
	ctx := t.Context()
	for i := range 5 {
		mustPending(t, st, fmt.Sprintf("cs-limit-%d", i), base.Add(time.Duration(i-10)*time.Second))
	}
	pending := []payment.Outcome{payment.Pending}
	tests := []struct {
		limit int
		want  []string
	}{
		{0, []string{}},
		{3, []string{"cs-limit-0", "cs-limit-1", "cs-limit-2"}},
		{3, []string{"cs-limit-3", "cs-limit-4"}},
		{3, []string{}},
	}
	for _, tt := range tests {
		got, err := st.ClaimDue(ctx, pending, base, tt.limit, time.Minute, owner)
		if err != nil {
			t.Fatalf("ClaimDue(limit %d): %v", tt.limit, err)
		}
		if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
			t.Fatalf("ClaimDue(limit %d) (-want +got):\n%s", tt.limit, diff)
		}
	}
}

func (s *suite) testClaimDueExpiredLease(t *testing.T) {
	st := s.open(t)
	ctx := t.Context()
	const id = "cs-expiring"
	mustPending(t, st, id, base)
	pending := []payment.Outcome{payment.Pending}

	steps := []struct {
		name    string
		now     time.Time
		claimer string
		want    []string
	}{
		{"first_claim", base, "worker-a", []string{id}},
		{"lease_held", base.Add(59 * time.Second), "worker-b", []string{}},
		{"lease_expired", base.Add(time.Minute), "worker-b", []string{id}},
	}
	for _, step := range steps {
		got, err := st.ClaimDue(ctx, pending, step.now, 10, time.Minute, step.claimer)
		if err != nil {
			t.Fatalf("%s: ClaimDue: %v", step.name, err)
		}
		if diff := cmp.Diff(step.want, ids(got)); diff != "" {
			t.Fatalf("%s: ClaimDue (-want +got):\n%s", step.name, diff)
		}
		for _, p := range got {
			if p.LeaseOwner != step.claimer || !p.NextCheckTime.Equal(step.now.Add(time.Minute)) {
				t.Errorf("%s: claimed with owner %q next check %v, want %q %v", step.name, p.LeaseOwner, p.NextCheckTime, step.claimer, step.now.Add(time.Minute))
			}
		}
	}
	// The first owner's lease is gone: its late result must not land.
	if _, err := st.Reschedule(ctx, id, "worker-a", base.Add(time.Hour), base.Add(61*time.Second)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("Reschedule by the expired owner = %v, want ErrLeaseLost", err)
	}
	if _, err := st.Reschedule(ctx, id, "worker-b", base.Add(time.Hour), base.Add(61*time.Second)); err != nil {
		t.Errorf("Reschedule by the new owner: %v", err)
	}
}

func (s *suite) testClaimDueConcurrent(t *testing.T) {
	st := s.open(t)
	const (
		due      = 200
		claimers = 4
	)
	for i := range due {
		mustPending(t, st, fmt.Sprintf("cs-due-%03d", i), base.Add(-time.Duration(i)*time.Second))
	}
	claimed := make([][]string, claimers)
	var wg sync.WaitGroup
	for c := range claimers {
		wg.Go(func() {
			for {
				got, err := st.ClaimDue(t.Context(), []payment.Outcome{payment.Pending}, base, 7, time.Hour, fmt.Sprintf("claimer-%d", c))
				if err != nil {
					t.Errorf("claimer %d: ClaimDue: %v", c, err)
					return
				}
				if len(got) == 0 {
					return
				}
				for _, p := range got {
					if p.LeaseOwner != fmt.Sprintf("claimer-%d", c) {
						t.Errorf("claimer %d got %s leased to %q", c, p.CheckoutSessionID, p.LeaseOwner)
					}
					claimed[c] = append(claimed[c], p.CheckoutSessionID)
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for c, got := range claimed {
		for _, id := range got {
			if prev, dup := seen[id]; dup {
				t.Errorf("%s claimed by claimer %d and claimer %d within one lease", id, prev, c)
			}
			seen[id] = c
		}
	}
	if len(seen) != due {
		t.Errorf("claimed %d distinct payments, want %d", len(seen), due)
	}
	for id, c := range seen {
		if p := mustGet(t, st, id); p.LeaseOwner != fmt.Sprintf("claimer-%d", c) {
			t.Errorf("%s stored lease owner %q, want claimer-%d", id, p.LeaseOwner, c)
		}
	}
}

func (s *suite) testReschedule(t *testing.T) {
	st := s.open(t)
	ctx := t.Context()
	mustPending(t, st, "cs-resched", base)
	mustPending(t, st, "cs-resched-final", base)
	claimed, err := st.ClaimDue(ctx, []payment.Outcome{payment.Pending}, base, 10, time.Minute, owner)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("ClaimDue = %v, %v; want both payments", ids(claimed), err)
	}
	before := mustGet(t, st, "cs-resched")
	next, now := base.Add(10*time.Minute), base.Add(5*time.Second)

	if _, err := st.Reschedule(ctx, "cs-resched", "worker-b", next, now); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("Reschedule by another owner = %v, want ErrLeaseLost", err)
	}
	if _, err := st.Reschedule(ctx, "cs-missing", owner, next, now); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("Reschedule of a missing payment = %v, want ErrLeaseLost", err)
	}
	if diff := cmp.Diff(before, mustGet(t, st, "cs-resched")); diff != "" {
		t.Errorf("rejected Reschedule changed the payment (-before +after):\n%s", diff)
	}

	got, err := st.Reschedule(ctx, "cs-resched", owner, next, now)
	if err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	want := before
	want.NextCheckTime = next
	want.CheckAttempts = before.CheckAttempts + 1
	want.LeaseOwner = ""
	want.UpdateTime = now
	want.Version = before.Version + 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Reschedule returned (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, mustGet(t, st, "cs-resched")); diff != "" {
		t.Errorf("Get after Reschedule (-want +got):\n%s", diff)
	}
	// The lease went with the reschedule.
	if _, err := st.Reschedule(ctx, "cs-resched", owner, next, now); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("second Reschedule = %v, want ErrLeaseLost", err)
	}
	// A second check counts too.
	if _, err := st.ClaimDue(ctx, []payment.Outcome{payment.Pending}, next, 10, time.Minute, owner); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Reschedule(ctx, "cs-resched", owner, next.Add(time.Minute), next); err != nil || got.CheckAttempts != 2 {
		t.Errorf("Reschedule after second claim = attempts %d, %v; want 2", got.CheckAttempts, err)
	}

	// A result learned elsewhere (say a notification) settles the payment
	// while it is leased; the late inconclusive check must not reopen it.
	mustTransition(t, st, "cs-resched-final", payment.Transition{Outcome: payment.Completed, Time: now})
	if _, err := st.Reschedule(ctx, "cs-resched-final", owner, next, now); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("Reschedule of a final payment = %v, want ErrLeaseLost", err)
	}
	if p := mustGet(t, st, "cs-resched-final"); p.Outcome != payment.Completed || !p.NextCheckTime.IsZero() {
		t.Errorf("final payment after Reschedule: outcome %s next check %v", p.Outcome, p.NextCheckTime)
	}
}

func (s *suite) testTransitionCountsChecks(t *testing.T) {
	st := s.open(t)
	mustPending(t, st, "cs-checked", base)
	if p := mustGet(t, st, "cs-checked"); p.CheckAttempts != 0 {
		t.Fatalf("CheckAttempts after an unchecked transition = %d, want 0", p.CheckAttempts)
	}
	got := mustTransition(t, st, "cs-checked", payment.Transition{Outcome: payment.Completed, Time: base, Checked: true})
	if got.CheckAttempts != 1 || mustGet(t, st, "cs-checked").CheckAttempts != 1 {
		t.Errorf("CheckAttempts after a checked transition = %d, want 1", got.CheckAttempts)
	}
	// A transition that changes nothing counts nothing.
	if p, changed, err := st.Transition(t.Context(), "cs-checked", payment.Transition{Outcome: payment.Completed, Time: base, Checked: true}); err != nil || changed || p.CheckAttempts != 1 {
		t.Errorf("repeated Transition = attempts %d, changed %v, %v; want 1, false", p.CheckAttempts, changed, err)
	}
}

func (s *suite) testExtendLease(t *testing.T) {
	st := s.open(t)
	ctx := t.Context()
	mustPending(t, st, "cs-extend", base)
	mustPending(t, st, "cs-extend-final", base)
	if _, err := st.ClaimDue(ctx, []payment.Outcome{payment.Pending}, base, 10, time.Minute, owner); err != nil {
		t.Fatal(err)
	}
	before := mustGet(t, st, "cs-extend")
	until := base.Add(5 * time.Minute)
	for _, bad := range []struct{ id, owner string }{{"cs-extend", "worker-b"}, {"cs-missing", owner}, {"cs-extend", ""}} {
		if err := st.ExtendLease(ctx, bad.id, bad.owner, until); !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("ExtendLease(%q, %q) = %v, want ErrLeaseLost", bad.id, bad.owner, err)
		}
	}
	if diff := cmp.Diff(before, mustGet(t, st, "cs-extend")); diff != "" {
		t.Errorf("rejected ExtendLease changed the payment (-before +after):\n%s", diff)
	}
	if err := st.ExtendLease(ctx, "cs-extend", owner, until); err != nil {
		t.Fatalf("ExtendLease: %v", err)
	}
	want := before
	want.NextCheckTime = until
	if diff := cmp.Diff(want, mustGet(t, st, "cs-extend")); diff != "" {
		t.Errorf("Get after ExtendLease (-want +got):\n%s", diff)
	}
	// The extended lease keeps others out until it expires.
	if got, err := st.ClaimDue(ctx, []payment.Outcome{payment.Pending}, base.Add(2*time.Minute), 10, time.Minute, "worker-b"); err != nil || len(got) != 1 || got[0].CheckoutSessionID != "cs-extend-final" {
		t.Errorf("ClaimDue during the extended lease = %v, %v; want only cs-extend-final (its lease expired)", ids(got), err)
	}
	mustTransition(t, st, "cs-extend", payment.Transition{Outcome: payment.Completed, Time: base})
	if err := st.ExtendLease(ctx, "cs-extend", owner, until); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("ExtendLease of a final payment = %v, want ErrLeaseLost", err)
	}
}

func (s *suite) testTimes(t *testing.T) {
	st := s.open(t)
	// Nanoseconds and a non-UTC zone: stored values may lose precision
	// below the millisecond only, and come back in UTC.
	zone := time.FixedZone("UTC+9", 9*60*60)
	at := time.Date(2026, time.July, 1, 23, 59, 59, 987654321, zone)
	p := attempt("cs-times", "order-times", at)
	p.UpdateTime = at.Add(1)
	p.NextCheckTime = at.Add(2)
	mustCreate(t, st, p, owner)
	tr := payment.Transition{Outcome: payment.Completed, Time: at.Add(3)}
	got := mustTransition(t, st, "cs-times", tr)
	stored := mustGet(t, st, "cs-times")
	tests := []struct {
		name      string
		got, want time.Time
	}{
		{"create_time", stored.CreateTime, p.CreateTime},
		{"update_time", stored.UpdateTime, tr.Time},
		{"settle_time", stored.SettleTime, tr.Time},
		{"transition_update_time", got.UpdateTime, tr.Time},
	}
	for _, tt := range tests {
		if tt.got.Location() != time.UTC {
			t.Errorf("%s location = %v, want UTC", tt.name, tt.got.Location())
		}
		if d := tt.got.Sub(tt.want); d.Abs() >= time.Millisecond {
			t.Errorf("%s = %v, want %v (off by %v, more than the millisecond allowed)", tt.name, tt.got, tt.want, d)
		}
	}
}

func (s *suite) testPing(t *testing.T) {
	st := s.open(t)
	if err := st.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// listFixture stores payments of every outcome at known creation times,
// out of creation order, with ties in time broken by ID, and returns them
// newest first (List's order).
func listFixture(t *testing.T, st store.Store) []payment.Payment {
	t.Helper()
	specs := []struct {
		id      string
		minutes int
		outcome payment.Outcome
	}{
		{"cs-l03", 3, payment.Completed},
		{"cs-l01", 1, payment.Unknown},
		{"cs-l05", 5, payment.Pending},
		{"cs-l02", 2, payment.Completing},
		{"cs-l07", 5, payment.Declined}, // same time as cs-l05 and cs-l06
		{"cs-l06", 5, payment.Completed},
		{"cs-l04", 4, payment.Canceled},
		{"cs-l08", 8, payment.Unknown},
	}
	for _, sp := range specs {
		at := base.Add(time.Duration(sp.minutes) * time.Minute)
		mustCreate(t, st, attempt(sp.id, "order-"+sp.id, at), owner)
		if sp.outcome != payment.Completing {
			tr := transitionTo(sp.outcome, at.Add(time.Second))
			mustTransition(t, st, sp.id, tr)
		}
	}
	all := make([]payment.Payment, 0, len(specs))
	for _, id := range []string{"cs-l08", "cs-l07", "cs-l06", "cs-l05", "cs-l04", "cs-l03", "cs-l02", "cs-l01"} {
		all = append(all, mustGet(t, st, id))
	}
	return all
}

func (s *suite) testList(t *testing.T) {
	st := s.open(t)
	all := listFixture(t, st)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	pick := func(want ...string) []payment.Payment {
		var out []payment.Payment
		for _, p := range all {
			if slices.Contains(want, p.CheckoutSessionID) {
				out = append(out, p)
			}
		}
		return out
	}
	tests := []struct {
		name string
		q    store.ListQuery
		want []payment.Payment
	}{
		{"everything", store.ListQuery{Limit: 100}, all},
		{"limit", store.ListQuery{Limit: 3}, all[:3]},
		{"one_outcome", store.ListQuery{Outcomes: []payment.Outcome{payment.Completed}, Limit: 100}, pick("cs-l06", "cs-l03")},
		{"several_outcomes", store.ListQuery{Outcomes: []payment.Outcome{payment.Unknown, payment.Completing, payment.Pending}, Limit: 100},
			pick("cs-l08", "cs-l05", "cs-l02", "cs-l01")},
		{"repeated_outcome", store.ListQuery{Outcomes: []payment.Outcome{payment.Unknown, payment.Unknown}, Limit: 100}, pick("cs-l08", "cs-l01")},
		{"several_outcomes_limit", store.ListQuery{Outcomes: []payment.Outcome{payment.Unknown, payment.Pending, payment.Declined}, Limit: 2},
			pick("cs-l08", "cs-l07")},
		{"created_from_inclusive", store.ListQuery{CreatedFrom: at(5), Limit: 100}, all[:4]},
		{"created_before_exclusive", store.ListQuery{CreatedBefore: at(5), Limit: 100}, all[4:]},
		{"range", store.ListQuery{CreatedFrom: at(2), CreatedBefore: at(5), Limit: 100}, pick("cs-l04", "cs-l03", "cs-l02")},
		{"range_and_outcome", store.ListQuery{Outcomes: []payment.Outcome{payment.Completed}, CreatedFrom: at(4), Limit: 100}, pick("cs-l06")},
		{"after_tie_in_time", store.ListQuery{After: &store.ListPosition{CreateTime: at(5), CheckoutSessionID: "cs-l07"}, Limit: 100}, all[2:]},
		{"after_and_outcome", store.ListQuery{Outcomes: []payment.Outcome{payment.Completed, payment.Pending},
			After: &store.ListPosition{CreateTime: at(5), CheckoutSessionID: "cs-l06"}, Limit: 100}, pick("cs-l05", "cs-l03")},
		{"after_the_last", store.ListQuery{After: &store.ListPosition{CreateTime: at(1), CheckoutSessionID: "cs-l01"}, Limit: 100}, nil},
		{"nothing_in_range", store.ListQuery{CreatedFrom: at(9), Limit: 100}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.List(t.Context(), tt.q)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
		})
	}
}

// testListPages pages through the payments of two outcomes with a small
// limit while payments are inserted (newer ones, as in production, and
// ones of other outcomes) and others change: each payment that matched
// before the first page appears exactly once, in order.
func (s *suite) testListPages(t *testing.T) {
	st := s.open(t)
	const n = 23
	var want []string
	for i := range n {
		id := fmt.Sprintf("cs-p%03d", i)
		// Two payments per creation time, so pages split ties.
		mustCreate(t, st, attempt(id, "order-p", base.Add(time.Duration(i/2)*time.Second)), owner)
		mustTransition(t, st, id, transitionTo(payment.Unknown, base.Add(time.Hour)))
		want = append(want, id)
	}
	slices.Reverse(want)
	q := store.ListQuery{Outcomes: []payment.Outcome{payment.Unknown, payment.Pending}, Limit: 4}
	var got []string
	for page := 0; ; page++ {
		ps, err := st.List(t.Context(), q)
		if err != nil {
			t.Fatalf("List page %d: %v", page, err)
		}
		for _, p := range ps {
			got = append(got, p.CheckoutSessionID)
		}
		if len(ps) < q.Limit {
			break
		}
		last := ps[len(ps)-1]
		q.After = &store.ListPosition{CreateTime: last.CreateTime, CheckoutSessionID: last.CheckoutSessionID}
		// Meanwhile: a new payment, newer than all, of a listed outcome;
		// one of another outcome; and a listed payment moves to pending
		// (still listed).
		id := fmt.Sprintf("cs-new%02d", page)
		mustCreate(t, st, attempt(id, "order-new", base.Add(time.Hour+time.Duration(page)*time.Second)), owner)
		mustTransition(t, st, id, transitionTo(payment.Unknown, base.Add(2*time.Hour)))
		mustCreate(t, st, attempt(id+"x", "order-new", base.Add(time.Duration(page)*time.Second)), owner)
		mustTransition(t, st, want[n-1-page], transitionTo(payment.Pending, base.Add(2*time.Hour)))
		if page > n {
			t.Fatal("paging does not end")
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged IDs (-want +got):\n%s", diff)
	}
}

func (s *suite) testListInvalid(t *testing.T) {
	st := s.open(t)
	tests := []struct {
		name string
		q    store.ListQuery
	}{
		{"zero_limit", store.ListQuery{}},
		{"negative_limit", store.ListQuery{Limit: -1}},
		{"limit_too_large", store.ListQuery{Limit: 1_000_000}},
		{"invalid_outcome", store.ListQuery{Outcomes: []payment.Outcome{"settled"}, Limit: 10}},
		{"empty_range", store.ListQuery{CreatedFrom: base, CreatedBefore: base, Limit: 10}},
		{"position_without_time", store.ListQuery{After: &store.ListPosition{CheckoutSessionID: "cs-x"}, Limit: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := st.List(t.Context(), tt.q); err == nil {
				t.Errorf("List(%+v) = %d payments, nil error; want an error", tt.q, len(got))
			}
		})
	}
}

// testBacklog checks the monitoring counts of unsettled payments; every
// store of the service implements store.Backlogger.
func (s *suite) testBacklog(t *testing.T) {
	st := s.open(t)
	b, ok := st.(store.Backlogger)
	if !ok {
		t.Fatalf("%T does not implement store.Backlogger", st)
	}
	ctx := t.Context()
	if got, err := b.Backlog(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: Backlog = %+v, %v; want none", got, err)
	}
	mustPending(t, st, "cs-bl-p1", base.Add(time.Minute))
	mustPending(t, st, "cs-bl-p2", base.Add(-time.Minute))
	mustCreate(t, st, attempt("cs-bl-c1", "order-bl-c1", base.Add(-2*time.Hour)), owner)
	mustCreate(t, st, attempt("cs-bl-done", "order-bl-done", base), owner)
	mustTransition(t, st, "cs-bl-done", payment.Transition{Outcome: payment.Completed, ChargeID: "S01-0000000-0000000-C000001", Time: base})
	got, err := b.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b store.Backlog) int { return strings.Compare(string(a.Outcome), string(b.Outcome)) })
	want := []store.Backlog{
		{Outcome: payment.Completing, Count: 1, OldestCreateTime: base.Add(-2 * time.Hour), EarliestCheckTime: base.Add(-2*time.Hour + 30*time.Second)},
		{Outcome: payment.Pending, Count: 2, OldestCreateTime: base.Add(-time.Hour), EarliestCheckTime: base.Add(-time.Minute)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Backlog (-want +got):\n%s", diff)
	}
}

// pendingOf creates a payment pending on its own charge and charge
// permission, due at due.
func pendingOf(t *testing.T, s store.Store, id string, due time.Time) payment.Payment {
	t.Helper()
	mustCreate(t, s, attempt(id, "order-"+id, base.Add(-time.Hour)), owner)
	return mustTransition(t, s, id, payment.Transition{
		Outcome:            payment.Pending,
		ChargePermissionID: "P-" + id,
		ChargeID:           "C-" + id,
		ChargeState:        "AuthorizationInitiated",
		NextCheckTime:      due,
		Time:               base.Add(-time.Hour),
	})
}

func (s *suite) testNudge(t *testing.T) {
	st := s.open(t)
	ctx := t.Context()
	later := pendingOf(t, st, "cs-nudge-later", base.Add(time.Hour))
	earlier := pendingOf(t, st, "cs-nudge-earlier", base.Add(-time.Minute))
	byPermission := pendingOf(t, st, "cs-nudge-permission", base.Add(time.Hour))
	pendingOf(t, st, "cs-nudge-final", base.Add(time.Hour))
	mustTransition(t, st, "cs-nudge-final", payment.Transition{Outcome: payment.Completed, Time: base})
	final := mustGet(t, st, "cs-nudge-final")

	for _, tt := range []struct {
		ref  store.ObjectRef
		want int
	}{
		{store.ObjectRef{Type: store.ObjectCharge, ID: "C-cs-nudge-later"}, 1},
		{store.ObjectRef{Type: store.ObjectCharge, ID: "C-cs-nudge-earlier"}, 1},
		// A payment waits for its charge: the permission's notice
		// nudges nothing (its read would be a wasted Get Charge).
		{store.ObjectRef{Type: store.ObjectChargePermission, ID: "P-cs-nudge-permission"}, 0},
		{store.ObjectRef{Type: store.ObjectCharge, ID: "C-cs-nudge-final"}, 0},
		{store.ObjectRef{Type: store.ObjectCharge, ID: "C-unknown"}, 0},
		{store.ObjectRef{Type: store.ObjectChargePermission, ID: "C-cs-nudge-later"}, 0},
		{store.ObjectRef{Type: store.ObjectRefund, ID: "R-unknown"}, 0},
	} {
		if n, err := st.Nudge(ctx, tt.ref, base); err != nil || n != tt.want {
			t.Errorf("Nudge(%v) = %d, %v; want %d", tt.ref, n, err, tt.want)
		}
	}
	for _, bad := range []store.ObjectRef{{Type: store.ObjectCharge}, {Type: "ORDER", ID: "x"}} {
		if _, err := st.Nudge(ctx, bad, base); err == nil {
			t.Errorf("Nudge(%v) succeeded, want an error", bad)
		}
	}
	if _, err := st.Nudge(ctx, store.ObjectRef{Type: store.ObjectCharge, ID: "C-cs-nudge-later"}, time.Time{}); err == nil {
		t.Error("Nudge without now succeeded, want an error")
	}

	// Only the due time moves, and never later; nothing is announced.
	for _, tc := range []struct {
		before payment.Payment
		due    time.Time
	}{{later, base}, {earlier, base.Add(-time.Minute)}, {byPermission, byPermission.NextCheckTime}} {
		want := tc.before
		want.NextCheckTime = tc.due
		if diff := cmp.Diff(want, mustGet(t, st, tc.before.CheckoutSessionID)); diff != "" {
			t.Errorf("after Nudge (-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff(final, mustGet(t, st, "cs-nudge-final")); diff != "" {
		t.Errorf("Nudge changed a final payment (-before +after):\n%s", diff)
	}
	// A repeated nudge is harmless.
	if n, err := st.Nudge(ctx, store.ObjectRef{Type: store.ObjectCharge, ID: "C-cs-nudge-later"}, base.Add(time.Second)); err != nil || n != 1 {
		t.Errorf("repeated Nudge = %d, %v; want 1", n, err)
	}
	if got := mustGet(t, st, "cs-nudge-later").NextCheckTime; !got.Equal(base) {
		t.Errorf("NextCheckTime after a repeated Nudge = %v, want %v", got, base)
	}
	claimed, err := st.ClaimDue(ctx, []payment.Outcome{payment.Pending}, base, 10, time.Minute, owner)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cs-nudge-earlier", "cs-nudge-later"}, ids(claimed)); diff != "" {
		t.Errorf("ClaimDue after Nudge (-want +got):\n%s", diff)
	}
}

func (s *suite) testNudgeDuringLease(t *testing.T) {
	st := s.open(t)
	ctx := t.Context()
	pendingOf(t, st, "cs-nudge-leased", base)
	pendingOf(t, st, "cs-nudge-settles", base)
	if got, err := st.ClaimDue(ctx, []payment.Outcome{payment.Pending}, base, 10, time.Minute, owner); err != nil || len(got) != 2 {
		t.Fatalf("ClaimDue = %v, %v; want both", ids(got), err)
	}
	leased := mustGet(t, st, "cs-nudge-leased")
	ref := store.ObjectRef{Type: store.ObjectCharge, ID: "C-cs-nudge-leased"}
	if n, err := st.Nudge(ctx, ref, base.Add(10*time.Second)); err != nil || n != 1 {
		t.Fatalf("Nudge during the lease = %d, %v; want 1", n, err)
	}
	// The lease stays with its holder: nobody else may claim it.
	if diff := cmp.Diff(leased, mustGet(t, st, "cs-nudge-leased")); diff != "" {
		t.Errorf("Nudge moved a held lease (-before +after):\n%s", diff)
	}
	if got, err := st.ClaimDue(ctx, []payment.Outcome{payment.Pending}, base.Add(20*time.Second), 10, time.Minute, "worker-b"); err != nil || len(got) != 0 {
		t.Errorf("ClaimDue during the nudged lease = %v, %v; want none", ids(got), err)
	}
	// The holder's inconclusive check (it may have read Amazon before the
	// change) is followed by another at once.
	now := base.Add(30 * time.Second)
	got, err := st.Reschedule(ctx, "cs-nudge-leased", owner, now.Add(time.Hour), now)
	if err != nil || !got.NextCheckTime.Equal(now) {
		t.Fatalf("Reschedule after a nudge = next %v, %v; want %v", got.NextCheckTime, err, now)
	}
	// The mark is spent: the next claim and reschedule keep their times.
	if _, err := st.ClaimDue(ctx, []payment.Outcome{payment.Pending}, now, 10, time.Minute, owner); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Reschedule(ctx, "cs-nudge-leased", owner, now.Add(time.Hour), now); err != nil || !got.NextCheckTime.Equal(now.Add(time.Hour)) {
		t.Errorf("second Reschedule = next %v, %v; want %v", got.NextCheckTime, err, now.Add(time.Hour))
	}

	// A claim after the nudge clears the mark: its check reads Amazon
	// after the change.
	if n, err := st.Nudge(ctx, ref, now); err != nil || n != 1 {
		t.Fatalf("Nudge = %d, %v", n, err)
	}
	if got, err := st.ClaimDue(ctx, []payment.Outcome{payment.Pending}, now, 10, time.Minute, "worker-b"); err != nil || len(got) != 1 {
		t.Fatalf("ClaimDue after Nudge = %v, %v; want cs-nudge-leased", ids(got), err)
	}
	if got, err := st.Reschedule(ctx, "cs-nudge-leased", "worker-b", now.Add(time.Hour), now); err != nil || !got.NextCheckTime.Equal(now.Add(time.Hour)) {
		t.Errorf("Reschedule after a claim that followed the nudge = next %v, %v; want %v", got.NextCheckTime, err, now.Add(time.Hour))
	}

	// A nudge during the lease of a check that records another unsettled
	// outcome (a reconciliation finding the charge pending) schedules it
	// at once too.
	mustCreate(t, st, attempt("cs-nudge-unknown", "order-cs-nudge-unknown", base.Add(-time.Hour)), owner)
	mustTransition(t, st, "cs-nudge-unknown", payment.Transition{
		Outcome: payment.Unknown, ChargeID: "C-cs-nudge-unknown", NextCheckTime: base, Time: base.Add(-time.Hour),
	})
	if got, err := st.ClaimDue(ctx, []payment.Outcome{payment.Unknown}, base, 10, time.Minute, owner); err != nil || len(got) != 1 {
		t.Fatalf("ClaimDue(unknown) = %v, %v", ids(got), err)
	}
	if n, err := st.Nudge(ctx, store.ObjectRef{Type: store.ObjectCharge, ID: "C-cs-nudge-unknown"}, base.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("Nudge = %d, %v", n, err)
	}
	p0 := mustTransition(t, st, "cs-nudge-unknown", payment.Transition{Outcome: payment.Pending, NextCheckTime: now.Add(time.Hour), Time: now})
	if !p0.NextCheckTime.Equal(now) {
		t.Errorf("pending after a nudged reconciliation: next %v, want %v", p0.NextCheckTime, now)
	}

	// A nudge during the lease of a check that then settles the payment
	// leaves nothing scheduled.
	if n, err := st.Nudge(ctx, store.ObjectRef{Type: store.ObjectCharge, ID: "C-cs-nudge-settles"}, base.Add(10*time.Second)); err != nil || n != 1 {
		t.Fatalf("Nudge = %d, %v", n, err)
	}
	p := mustTransition(t, st, "cs-nudge-settles", payment.Transition{Outcome: payment.Completed, Time: now, Checked: true})
	if !p.NextCheckTime.IsZero() || p.LeaseOwner != "" {
		t.Errorf("settled after a nudge: next %v owner %q; want none", p.NextCheckTime, p.LeaseOwner)
	}
}

// traceParent is a W3C traceparent as the service records one.
const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// testTraceParent checks that the trace context a payment was recorded
// with is kept, as given, through every later change; and that a payment
// recorded without one reads back without one.
func (s *suite) testTraceParent(t *testing.T) {
	st := s.open(t)
	ctx := t.Context()
	traced := attempt("cs-traced", "order-traced", base)
	traced.TraceParent = traceParent
	if got := mustCreate(t, st, traced, owner); got.TraceParent != traceParent {
		t.Errorf("CreateAttempt returned trace parent %q, want %q", got.TraceParent, traceParent)
	}
	if got := mustCreate(t, st, attempt("cs-untraced", "order-untraced", base), owner); got.TraceParent != "" {
		t.Errorf("untraced attempt: trace parent %q, want none", got.TraceParent)
	}
	// A duplicate from another trace finds the first one's.
	dup := traced
	dup.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if got, created, err := st.CreateAttempt(ctx, dup, "worker-b"); err != nil || created || got.TraceParent != traceParent {
		t.Errorf("duplicate CreateAttempt = %q, created %v, %v; want the first trace parent", got.TraceParent, created, err)
	}
	mustTransition(t, st, "cs-traced", payment.Transition{Outcome: payment.Unknown, NextCheckTime: base.Add(time.Second), Time: base})
	claimed, err := st.ClaimDue(ctx, []payment.Outcome{payment.Unknown}, base.Add(time.Minute), 10, time.Minute, owner)
	if err != nil || len(claimed) != 1 || claimed[0].TraceParent != traceParent {
		t.Fatalf("ClaimDue = %+v, %v; want cs-traced with its trace parent", claimed, err)
	}
	if got, err := st.Reschedule(ctx, "cs-traced", owner, base.Add(2*time.Minute), base.Add(time.Minute)); err != nil || got.TraceParent != traceParent {
		t.Errorf("Reschedule = %q, %v; want the trace parent kept", got.TraceParent, err)
	}
	got := mustTransition(t, st, "cs-traced", payment.Transition{Outcome: payment.Completed, Time: base.Add(3 * time.Minute)})
	if got.TraceParent != traceParent {
		t.Errorf("after Transition: trace parent %q, want %q", got.TraceParent, traceParent)
	}
	if got := mustGet(t, st, "cs-traced"); got.TraceParent != traceParent {
		t.Errorf("Get: trace parent %q, want %q", got.TraceParent, traceParent)
	}
	page, err := st.List(ctx, store.ListQuery{Limit: 10})
	if err != nil || len(page) != 2 || page[0].TraceParent+page[1].TraceParent != traceParent {
		t.Errorf("List = %+v, %v; want the traced payment's trace parent only", page, err)
	}
}
