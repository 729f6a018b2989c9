package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// RunOperations runs the conformance suite of store.Operations. open must
// return a new, empty store each time; RunOperations closes it.
func RunOperations(t *testing.T, open func(t *testing.T) OperationStore) {
	t.Helper()
	get := func(t *testing.T) OperationStore {
		t.Helper()
		st := open(t)
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return st
	}
	tests := []struct {
		name string
		run  func(*testing.T, OperationStore)
	}{
		{"nudge", testOpNudge},
		{"create_get_list", testOpCreate},
		{"create_concurrent_duplicates", testOpConcurrent},
		{"delete", testOpDelete},
		{"bind", testOpBind},
		{"advance_only_forward", testOpAdvance},
		{"claim_reschedule_extend", testOpClaim},
		{"transition_then_commits_together", testOpTransitionThen},
		{"count_unknown", testOpCountUnknown},
		{"list_unknown_operations", testOpListUnknown},
		{"backlog", testOpBacklog},
		{"trace_parent_kept", testOpTraceParent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, get(t))
		})
	}
}

// OperationStore is what RunOperations tests: a store that keeps
// operations, and whose Nudge reaches them.
type OperationStore interface {
	store.Operations
	store.UnknownOperationCounter
	Nudge(ctx context.Context, ref store.ObjectRef, now time.Time) (int, error)
	Close() error
}

// testOpCountUnknown: the operations not known yet, created before the
// time, per kind; settled ones, later ones and expiry watches are not
// counted.
func testOpCountUnknown(t *testing.T, st OperationStore) {
	ctx := t.Context()
	old, recent := opT0, opT0.Add(2*time.Hour)
	mk := func(id string, kind payment.OpKind, at time.Time, state payment.OpState) {
		op := newOp(id, "P01", at)
		op.Kind, op.ObjectID = kind, "S01-"+id
		mustCreateOp(t, st, op, "w1")
		if state == payment.OpSending {
			return
		}
		u := payment.OpUpdate{State: state, Time: at, NextCheckTime: at.Add(time.Minute)}
		if state == payment.OpDone {
			u.NextCheckTime = time.Time{}
		}
		if _, _, err := st.AdvanceOperation(ctx, id, u); err != nil {
			t.Fatal(err)
		}
	}
	mk("u1", payment.OpRefund, old, payment.OpUnknown)
	mk("u2", payment.OpRefund, old, payment.OpSending)
	mk("u3", payment.OpCharge, old, payment.OpUnknown)
	mk("u4", payment.OpRefund, recent, payment.OpUnknown) // not old enough
	mk("u5", payment.OpCapture, old, payment.OpDone)
	mk("u6", payment.OpCapture, old, payment.OpPending) // Amazon decides
	mk("u7", payment.OpExpiry, old, payment.OpSending)  // a watch
	got, err := st.CountUnknownOperations(ctx, opT0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[payment.OpKind]int64{payment.OpRefund: 2, payment.OpCharge: 1}, got); diff != "" {
		t.Errorf("CountUnknownOperations (-want +got):\n%s", diff)
	}
}

func testOpNudge(t *testing.T, st OperationStore) {
	ctx := t.Context()
	const charge = "S01-0000000-0000000-C000001" // newOp's object
	mustCreateOp(t, st, newOp("n1", "P01", opT0), "w1")
	mustCreateOp(t, st, newOp("n2", "P01", opT0), "w1")
	mustCreateOp(t, st, newOp("n3", "P01", opT0), "w1")
	far := opT0.Add(time.Hour)
	for id, state := range map[string]payment.OpState{"n1": payment.OpPending, "n2": payment.OpUnknown} {
		if _, _, err := st.AdvanceOperation(ctx, id, payment.OpUpdate{State: state, NextCheckTime: far, Time: opT0}); err != nil {
			t.Fatal(err)
		}
	}
	// n3 is in flight (sending, leased): a nudge leaves it to its owner.
	now := opT0.Add(time.Minute / 2)
	n, err := st.Nudge(ctx, store.ObjectRef{Type: store.ObjectCharge, ID: charge}, now)
	if err != nil || n != 2 {
		t.Fatalf("Nudge = %d, %v; want the 2 unsettled operations", n, err)
	}
	for _, id := range []string{"n1", "n2"} {
		if op, err := st.GetOperation(ctx, id); err != nil || !op.NextCheckTime.Equal(now) {
			t.Errorf("%s after nudge: next check %v, %v; want %v", id, op.NextCheckTime, err, now)
		}
	}
	if op, _ := st.GetOperation(ctx, "n3"); !op.NextCheckTime.Equal(opT0.Add(time.Minute)) {
		t.Errorf("in-flight operation's lease moved to %v", op.NextCheckTime)
	}
	if n, err := st.Nudge(ctx, store.ObjectRef{Type: store.ObjectCharge, ID: "S01-other"}, now); err != nil || n != 0 {
		t.Errorf("Nudge of another charge = %d, %v; want 0", n, err)
	}

	// A REFUND notification names the refund, which only Amazon's answer
	// told, and its charge permission: the unsettled refunds on that
	// permission are nudged, nothing else.
	refund := newOp("r1", "P02", opT0)
	refund.Kind = payment.OpRefund
	mustCreateOp(t, st, refund, "w1")
	if _, _, err := st.AdvanceOperation(ctx, "r1", payment.OpUpdate{State: payment.OpPending, NextCheckTime: far, Time: opT0}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Second)
	for _, tt := range []struct {
		ref  store.ObjectRef
		want int
	}{
		{store.ObjectRef{Type: store.ObjectRefund, ID: "S01-0000000-0000000-R000001", ChargePermissionID: "P-other"}, 0},
		{store.ObjectRef{Type: store.ObjectRefund, ID: "S01-0000000-0000000-R000001"}, 0},
		{store.ObjectRef{Type: store.ObjectRefund, ID: "S01-0000000-0000000-R000001", ChargePermissionID: "P01"}, 0}, // captures, not refunds
		{store.ObjectRef{Type: store.ObjectRefund, ID: "S01-0000000-0000000-R000001", ChargePermissionID: "P02"}, 1},
	} {
		if n, err := st.Nudge(ctx, tt.ref, later); err != nil || n != tt.want {
			t.Errorf("Nudge(%+v) = %d, %v; want %d", tt.ref, n, err, tt.want)
		}
	}
	if op, err := st.GetOperation(ctx, "r1"); err != nil || !op.NextCheckTime.Equal(later) {
		t.Errorf("refund after nudge: next check %v, %v; want %v", op.NextCheckTime, err, later)
	}

	// A charge created on a permission is recorded under the permission;
	// the CHARGE notification's ChargePermissionId finds it.
	created := newOp("c1", "P03", opT0)
	created.Kind, created.ObjectID = payment.OpCharge, "P03"
	mustCreateOp(t, st, created, "w1")
	if _, _, err := st.AdvanceOperation(ctx, "c1", payment.OpUpdate{State: payment.OpPending, NextCheckTime: far, Time: opT0}); err != nil {
		t.Fatal(err)
	}
	latest := later.Add(time.Second)
	if n, err := st.Nudge(ctx, store.ObjectRef{Type: store.ObjectCharge, ID: "S01-new-charge", ChargePermissionID: "P03"}, latest); err != nil || n != 1 {
		t.Errorf("Nudge of a created charge = %d, %v; want 1", n, err)
	}
	if op, err := st.GetOperation(ctx, "c1"); err != nil || !op.NextCheckTime.Equal(latest) {
		t.Errorf("created charge after nudge: next check %v, %v; want %v", op.NextCheckTime, err, latest)
	}

	// A charge's expiry watch waits under its lease until the
	// authorization expires; a CHARGE notification makes it due now (it
	// only reads the charge), a CHARGE_PERMISSION one does not, and a
	// done one stays done.
	watch := newOp("e1", "P04", opT0)
	watch.Kind, watch.ObjectID, watch.NextCheckTime = payment.OpExpiry, "S01-watched", opT0.Add(30*24*time.Hour)
	mustCreateOp(t, st, watch, "expiry")
	done := newOp("e2", "P04", opT0)
	done.Kind, done.ObjectID = payment.OpExpiry, "S01-watched-done"
	mustCreateOp(t, st, done, "expiry")
	if _, _, err := st.AdvanceOperation(ctx, "e2", payment.OpUpdate{State: payment.OpDone, Time: opT0}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ref  store.ObjectRef
		want int
	}{
		{store.ObjectRef{Type: store.ObjectChargePermission, ID: "P04"}, 0},
		{store.ObjectRef{Type: store.ObjectCharge, ID: "S01-watched-done", ChargePermissionID: "P04"}, 0},
		{store.ObjectRef{Type: store.ObjectCharge, ID: "S01-watched", ChargePermissionID: "P04"}, 1},
	} {
		if n, err := st.Nudge(ctx, tt.ref, latest); err != nil || n != tt.want {
			t.Errorf("Nudge(%+v) = %d, %v; want %d", tt.ref, n, err, tt.want)
		}
	}
	if op, err := st.GetOperation(ctx, "e1"); err != nil || !op.NextCheckTime.Equal(latest) {
		t.Errorf("expiry watch after nudge: next check %v, %v; want %v", op.NextCheckTime, err, latest)
	}
}

var opT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newOp(id, cpid string, at time.Time) payment.Operation {
	return payment.Operation{
		ID: id, Kind: payment.OpCapture, ObjectID: "S01-0000000-0000000-C000001", IdempotencyKey: "key-" + id,
		Request: "10.00 USD", ChargePermissionID: cpid, State: payment.OpSending,
		CreateTime: at, UpdateTime: at, NextCheckTime: at.Add(time.Minute),
	}
}

func mustCreateOp(t *testing.T, st store.Operations, op payment.Operation, owner string) payment.Operation {
	t.Helper()
	got, created, err := st.CreateOperation(t.Context(), op, owner)
	if err != nil || !created {
		t.Fatalf("CreateOperation(%s) = created %v, %v; want created", op.ID, created, err)
	}
	return got
}

func testOpCreate(t *testing.T, st OperationStore) {
	ctx := t.Context()
	op := newOp("op1", "P01", opT0)
	got := mustCreateOp(t, st, op, "w1")
	if got.ID != op.ID || got.Kind != op.Kind || got.ObjectID != op.ObjectID || got.IdempotencyKey != op.IdempotencyKey ||
		got.Request != op.Request || got.ChargePermissionID != "P01" || got.State != payment.OpSending ||
		got.LeaseOwner != "w1" || got.Version != 1 || !got.CreateTime.Equal(opT0) || !got.NextCheckTime.Equal(op.NextCheckTime) || got.Result != nil {
		t.Errorf("created %+v, want the operation as given, leased to w1, version 1", got)
	}
	again, created, err := st.CreateOperation(ctx, newOp("op1", "P02", opT0.Add(time.Second)), "w2")
	if err != nil || created || again.LeaseOwner != "w1" || again.ChargePermissionID != "P01" {
		t.Errorf("second CreateOperation = %+v, created %v, %v; want the first, unchanged", again, created, err)
	}
	if _, err := st.GetOperation(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOperation(unknown) = %v, want ErrNotFound", err)
	}
	mustCreateOp(t, st, newOp("op0", "P01", opT0.Add(time.Second)), "w1")
	mustCreateOp(t, st, newOp("op2", "P02", opT0), "w1")
	list, err := st.ListOperations(ctx, "P01")
	if err != nil || len(list) != 2 || list[0].ID != "op1" || list[1].ID != "op0" {
		t.Errorf("ListOperations(P01) = %v, %v; want op1 then op0", list, err)
	}
	if list, err := st.ListOperations(ctx, "P99"); err != nil || len(list) != 0 {
		t.Errorf("ListOperations(P99) = %v, %v; want none", list, err)
	}
	bad := newOp("", "P01", opT0)
	if _, _, err := st.CreateOperation(ctx, bad, "w1"); err == nil {
		t.Error("CreateOperation without ID succeeded")
	}
}

func testOpConcurrent(t *testing.T, st OperationStore) {
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		owners  = map[string]bool{}
	)
	for i := range n {
		wg.Go(func() {
			got, c, err := st.CreateOperation(t.Context(), newOp("dup", "P01", opT0), fmt.Sprintf("w%d", i))
			if err != nil {
				t.Errorf("CreateOperation: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			owners[got.LeaseOwner] = true
			if c {
				created++
			}
		})
	}
	wg.Wait()
	if created != 1 || len(owners) != 1 {
		t.Errorf("%d of %d concurrent duplicates created, seeing %d owners; want 1 and 1", created, n, len(owners))
	}
}

func testOpBind(t *testing.T, st OperationStore) {
	ctx := t.Context()
	mustCreateOp(t, st, newOp("b1", "", opT0), "w1")
	if err := st.BindOperation(ctx, "b1", "w2", "P01"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("BindOperation by another owner = %v, want ErrLeaseLost", err)
	}
	if err := st.BindOperation(ctx, "b1", "w1", "P01"); err != nil {
		t.Fatalf("BindOperation: %v", err)
	}
	if list, err := st.ListOperations(ctx, "P01"); err != nil || len(list) != 1 || list[0].ID != "b1" || list[0].State != payment.OpSending || list[0].LeaseOwner != "w1" {
		t.Errorf("ListOperations(P01) after bind = %+v, %v; want b1, still sending and leased to w1", list, err)
	}
	if _, _, err := st.AdvanceOperation(ctx, "b1", payment.OpUpdate{State: payment.OpUnknown, NextCheckTime: opT0.Add(time.Minute), Time: opT0}); err != nil {
		t.Fatal(err)
	}
	if err := st.BindOperation(ctx, "b1", "w1", "P02"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("BindOperation of an operation no longer sending = %v, want ErrLeaseLost", err)
	}
	if err := st.BindOperation(ctx, "nope", "w1", "P01"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("BindOperation of an unknown operation = %v, want ErrLeaseLost", err)
	}
}

func testOpDelete(t *testing.T, st OperationStore) {
	ctx := t.Context()
	mustCreateOp(t, st, newOp("d1", "P01", opT0), "w1")
	if err := st.DeleteOperation(ctx, "d1", "w2"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("DeleteOperation by another owner = %v, want ErrLeaseLost", err)
	}
	if err := st.DeleteOperation(ctx, "d1", "w1"); err != nil {
		t.Fatalf("DeleteOperation: %v", err)
	}
	if _, err := st.GetOperation(ctx, "d1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOperation after delete = %v, want ErrNotFound", err)
	}
	mustCreateOp(t, st, newOp("d2", "P01", opT0), "w1")
	if _, _, err := st.AdvanceOperation(ctx, "d2", payment.OpUpdate{State: payment.OpUnknown, NextCheckTime: opT0.Add(time.Minute), Time: opT0}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteOperation(ctx, "d2", "w1"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("DeleteOperation of an unknown operation = %v, want ErrLeaseLost (a caller was told about it)", err)
	}
}

func testOpAdvance(t *testing.T, st OperationStore) {
	ctx := t.Context()
	mustCreateOp(t, st, newOp("a1", "", opT0), "w1")
	at := opT0.Add(time.Second)
	got, changed, err := st.AdvanceOperation(ctx, "a1", payment.OpUpdate{
		State: payment.OpPending, Result: []byte(`{"s":"CaptureInitiated"}`), ChargePermissionID: "P01",
		NextCheckTime: at.Add(time.Minute), Time: at, Checked: true,
	})
	if err != nil || !changed || got.State != payment.OpPending || string(got.Result) != `{"s":"CaptureInitiated"}` ||
		got.ChargePermissionID != "P01" || got.LeaseOwner != "" || got.Version != 2 || got.CheckAttempts != 1 || !got.UpdateTime.Equal(at) {
		t.Fatalf("advance to pending = %+v, %v, %v", got, changed, err)
	}
	if got, changed, err := st.AdvanceOperation(ctx, "a1", payment.OpUpdate{State: payment.OpUnknown, NextCheckTime: at, Time: at}); err != nil || changed || got.State != payment.OpPending {
		t.Errorf("advance backwards = %+v, %v, %v; want unchanged pending", got, changed, err)
	}
	got, changed, err = st.AdvanceOperation(ctx, "a1", payment.OpUpdate{State: payment.OpDone, Result: []byte(`{"s":"Captured"}`), ReasonCode: "", Time: at})
	if err != nil || !changed || got.State != payment.OpDone || string(got.Result) != `{"s":"Captured"}` || !got.NextCheckTime.IsZero() || got.ChargePermissionID != "P01" {
		t.Errorf("advance to done = %+v, %v, %v", got, changed, err)
	}
	if _, changed, err := st.AdvanceOperation(ctx, "a1", payment.OpUpdate{State: payment.OpDone, Result: []byte(`{}`), Time: at}); err != nil || changed {
		t.Errorf("done again = %v, %v; want unchanged", changed, err)
	}
	if _, _, err := st.AdvanceOperation(ctx, "none", payment.OpUpdate{State: payment.OpDone, Time: at}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("advance of a missing operation = %v, want ErrNotFound", err)
	}
}

func testOpClaim(t *testing.T, st OperationStore) {
	ctx := t.Context()
	// c1 in flight with a lease until t0+1m; c2 unknown due at t0+30s; c3
	// pending due at t0+2m; c4 done.
	mustCreateOp(t, st, newOp("c1", "P01", opT0), "w1")
	mustCreateOp(t, st, newOp("c2", "P01", opT0), "w1")
	mustCreateOp(t, st, newOp("c3", "P01", opT0), "w1")
	mustCreateOp(t, st, newOp("c4", "P01", opT0), "w1")
	adv := func(id string, u payment.OpUpdate) {
		t.Helper()
		if _, _, err := st.AdvanceOperation(ctx, id, u); err != nil {
			t.Fatal(err)
		}
	}
	adv("c2", payment.OpUpdate{State: payment.OpUnknown, NextCheckTime: opT0.Add(30 * time.Second), Time: opT0})
	adv("c3", payment.OpUpdate{State: payment.OpPending, NextCheckTime: opT0.Add(2 * time.Minute), Time: opT0})
	adv("c4", payment.OpUpdate{State: payment.OpDone, Time: opT0})
	all := []payment.OpState{payment.OpSending, payment.OpUnknown, payment.OpPending}
	claimed, err := st.ClaimDueOperations(ctx, all, opT0.Add(45*time.Second), 10, time.Minute, "r1")
	if err != nil || len(claimed) != 1 || claimed[0].ID != "c2" || claimed[0].LeaseOwner != "r1" {
		t.Fatalf("claim at +45s = %v, %v; want c2 only", claimed, err)
	}
	if again, err := st.ClaimDueOperations(ctx, all, opT0.Add(46*time.Second), 10, time.Minute, "r2"); err != nil || len(again) != 0 {
		t.Errorf("second claim = %v, %v; want nothing (c2 leased)", again, err)
	}
	claimed, err = st.ClaimDueOperations(ctx, all, opT0.Add(150*time.Second), 10, time.Minute, "r2")
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim at +150s = %v, %v; want c1 (expired lease), c3 and c2 (expired lease)", claimed, err)
	}
	if only, err := st.ClaimDueOperations(ctx, []payment.OpState{payment.OpPending}, opT0.Add(time.Hour), 10, time.Minute, "r3"); err != nil || len(only) != 1 || only[0].ID != "c3" {
		t.Errorf("claim of pending only = %v, %v; want c3", only, err)
	}
	if err := st.ExtendOperationLease(ctx, "c3", "r2", opT0.Add(2*time.Hour)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("extend by a former owner = %v, want ErrLeaseLost", err)
	}
	if err := st.ExtendOperationLease(ctx, "c3", "r3", opT0.Add(2*time.Hour)); err != nil {
		t.Errorf("extend: %v", err)
	}
	if err := st.ExtendOperationLease(ctx, "c4", "w1", opT0.Add(2*time.Hour)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("extend of a done operation = %v, want ErrLeaseLost", err)
	}
	now := opT0.Add(time.Hour)
	got, err := st.RescheduleOperation(ctx, "c3", "r3", now.Add(time.Minute), now)
	if err != nil || got.LeaseOwner != "" || got.CheckAttempts != 1 || !got.NextCheckTime.Equal(now.Add(time.Minute)) || got.Version != 3 {
		t.Errorf("reschedule = %+v, %v", got, err)
	}
	if _, err := st.RescheduleOperation(ctx, "c3", "r3", now.Add(time.Minute), now); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("reschedule without the lease = %v, want ErrLeaseLost", err)
	}
}

// testOpTransitionThen: the operations a Transition's Then gives are
// recorded with the transition in one transaction: both or neither (an
// operation the store refuses undoes the transition), only when the
// transition changes the payment, and an existing one is kept.
func testOpTransitionThen(t *testing.T, st OperationStore) {
	ctx := t.Context()
	ps, ok := st.(store.Store)
	if !ok {
		t.Fatalf("%T keeps operations but no payments", st)
	}
	mustCreate(t, ps, attempt("cs-then", "order-then", opT0), "w1")
	var seen []payment.Payment
	follow := func(ops ...payment.Operation) func(payment.Payment) []payment.Operation {
		return func(p payment.Payment) []payment.Operation {
			seen = append(seen, p)
			return ops
		}
	}
	ref := newOp("then-ref", "P-then", opT0)
	ref.LeaseOwner = "follow"
	bad := newOp("then-bad", "P-then", opT0)
	bad.LeaseOwner = "" // CreateOperation refuses an operation with no lease owner

	// A refused operation undoes the transition: the payment is as before
	// and nothing is recorded.
	tr := payment.Transition{Outcome: payment.Completed, ChargePermissionID: "P-then", ChargeID: "C-then", Time: opT0.Add(time.Second)}
	tr.Then = follow(ref, bad)
	if _, _, err := ps.Transition(ctx, "cs-then", tr); err == nil {
		t.Fatal("Transition with a refused operation to follow succeeded")
	}
	if p, err := ps.Get(ctx, "cs-then"); err != nil || p.Outcome != payment.Completing {
		t.Fatalf("after a refused follow-up: outcome %s, %v; want %s (rolled back)", p.Outcome, err, payment.Completing)
	}
	if _, err := st.GetOperation(ctx, "then-ref"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetOperation(then-ref) after the rollback = %v, want ErrNotFound", err)
	}

	// Accepted: both are recorded, and Then saw the payment as changed.
	existing := newOp("then-existing", "P-then", opT0)
	mustCreateOp(t, st, existing, "w9")
	moved := existing
	moved.Request, moved.LeaseOwner = "99.00 USD", "follow"
	seen = nil
	tr.Then = follow(ref, moved)
	got := mustTransition(t, ps, "cs-then", tr)
	if len(seen) == 0 || seen[len(seen)-1].Outcome != payment.Completed || seen[len(seen)-1].ChargeID != "C-then" || seen[len(seen)-1].OrderID != "order-then" {
		t.Fatalf("Then saw %+v; want the completed payment", seen)
	}
	if got.Outcome != payment.Completed {
		t.Fatalf("outcome %s, want %s", got.Outcome, payment.Completed)
	}
	op, err := st.GetOperation(ctx, "then-ref")
	if err != nil {
		t.Fatal(err)
	}
	if op.State != payment.OpSending || op.LeaseOwner != "follow" || op.Kind != ref.Kind || op.ObjectID != ref.ObjectID ||
		op.Request != ref.Request || op.ChargePermissionID != "P-then" || !op.NextCheckTime.Equal(ref.NextCheckTime) || op.Version != 1 {
		t.Errorf("recorded %+v; want %+v leased to follow", op, ref)
	}
	if op, err := st.GetOperation(ctx, "then-existing"); err != nil || op.Request != existing.Request || op.LeaseOwner != "w9" {
		t.Errorf("existing operation = %+v, %v; want it kept as it was", op, err)
	}

	// A transition that changes nothing records nothing.
	seen = nil
	again := payment.Transition{Outcome: payment.Completed, Time: opT0.Add(2 * time.Second)}
	again.Then = follow(newOp("then-late", "P-then", opT0))
	if _, changed, err := ps.Transition(ctx, "cs-then", again); err != nil || changed {
		t.Fatalf("repeated Transition = changed %v, %v; want unchanged", changed, err)
	}
	if _, err := st.GetOperation(ctx, "then-late"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOperation(then-late) after an unchanged transition = %v, want ErrNotFound", err)
	}
	if ops, err := st.ListOperations(ctx, "P-then"); err != nil || len(ops) != 2 {
		t.Errorf("ListOperations = %d, %v; want 2", len(ops), err)
	}
}

// testOpListUnknown: List with UnknownOperationsBefore keeps the payments
// whose charge permission has an operation not known yet and older than
// the time; other filters and paging still apply.
func testOpListUnknown(t *testing.T, st OperationStore) {
	ctx := t.Context()
	ps, ok := st.(store.Store)
	if !ok {
		t.Fatalf("%T keeps operations but no payments", st)
	}
	for i, cp := range []string{"P-stuck", "P-recent", "P-done", "P-none", "P-stuck2"} {
		id := fmt.Sprintf("cs-attn-%d", i)
		mustCreate(t, ps, attempt(id, "order-"+id, opT0.Add(time.Duration(i)*time.Second)), "w1")
		if _, _, err := ps.Transition(ctx, id, payment.Transition{Outcome: payment.Completed, ChargePermissionID: cp,
			ChargeID: cp + "-C", Time: opT0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	old, recent := opT0, opT0.Add(2*time.Hour)
	mk := func(id, cp string, at time.Time, state payment.OpState) {
		op := newOp(id, cp, at)
		mustCreateOp(t, st, op, "w1")
		if state == payment.OpSending {
			return
		}
		u := payment.OpUpdate{State: state, Time: at, NextCheckTime: at.Add(time.Minute)}
		if state == payment.OpDone {
			u.NextCheckTime = time.Time{}
		}
		if _, _, err := st.AdvanceOperation(ctx, id, u); err != nil {
			t.Fatal(err)
		}
	}
	mk("a1", "P-stuck", old, payment.OpUnknown)
	mk("a2", "P-stuck", old, payment.OpDone)
	mk("a3", "P-recent", recent, payment.OpUnknown)
	mk("a4", "P-done", old, payment.OpDone)
	mk("a5", "P-stuck2", old, payment.OpSending)
	watch := newOp("a6", "P-none", old)
	watch.Kind = payment.OpExpiry
	mustCreateOp(t, st, watch, "expiry")

	before := opT0.Add(time.Hour)
	got, err := ps.List(ctx, store.ListQuery{UnknownOperationsBefore: before, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cs-attn-4", "cs-attn-0"}, ids(got)); diff != "" {
		t.Errorf("List of payments with unknown operations (-want +got):\n%s", diff)
	}
	// Paged one at a time, with an outcome filter.
	first, err := ps.List(ctx, store.ListQuery{Outcomes: []payment.Outcome{payment.Completed}, UnknownOperationsBefore: before, Limit: 1})
	if err != nil || len(first) != 1 {
		t.Fatalf("first page = %v, %v", ids(first), err)
	}
	next, err := ps.List(ctx, store.ListQuery{Outcomes: []payment.Outcome{payment.Completed}, UnknownOperationsBefore: before, Limit: 1,
		After: &store.ListPosition{CreateTime: first[0].CreateTime, CheckoutSessionID: first[0].CheckoutSessionID}})
	if err != nil || len(next) != 1 || next[0].CheckoutSessionID != "cs-attn-0" {
		t.Errorf("second page = %v, %v; want cs-attn-0", ids(next), err)
	}
	if got, err := ps.List(ctx, store.ListQuery{Outcomes: []payment.Outcome{payment.Pending}, UnknownOperationsBefore: before, Limit: 10}); err != nil || len(got) != 0 {
		t.Errorf("pending payments with unknown operations = %v, %v; want none", ids(got), err)
	}
}

// testOpBacklog checks the monitoring counts of operations not done; every
// store that keeps operations implements store.OperationsBacklogger.
func testOpBacklog(t *testing.T, st OperationStore) {
	ctx := t.Context()
	b, ok := st.(store.OperationsBacklogger)
	if !ok {
		t.Fatalf("%T does not implement store.OperationsBacklogger", st)
	}
	if got, err := b.OperationsBacklog(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: OperationsBacklog = %+v, %v; want none", got, err)
	}
	far := opT0.Add(time.Hour)
	mustCreateOp(t, st, newOp("b1", "P01", opT0), "w1")                  // capture, sending
	mustCreateOp(t, st, newOp("b2", "P01", opT0.Add(time.Second)), "w1") // capture, unknown
	mustCreateOp(t, st, newOp("b3", "P01", opT0.Add(2*time.Second)), "w1")
	mustCreateOp(t, st, newOp("b4", "P01", opT0.Add(3*time.Second)), "w1") // capture, done: not counted
	refund := newOp("b5", "P01", opT0.Add(4*time.Second))
	refund.Kind = payment.OpRefund
	mustCreateOp(t, st, refund, "w1")
	for id, state := range map[string]payment.OpState{"b2": payment.OpUnknown, "b3": payment.OpUnknown, "b5": payment.OpPending} {
		if _, _, err := st.AdvanceOperation(ctx, id, payment.OpUpdate{State: state, NextCheckTime: far, Time: opT0}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.AdvanceOperation(ctx, "b4", payment.OpUpdate{State: payment.OpDone, Result: []byte("{}"), Time: opT0}); err != nil {
		t.Fatal(err)
	}
	got, err := b.OperationsBacklog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b store.OperationBacklog) int {
		return strings.Compare(string(a.Kind)+"/"+string(a.State), string(b.Kind)+"/"+string(b.State))
	})
	want := []store.OperationBacklog{
		{Kind: payment.OpCapture, State: payment.OpSending, Count: 1, OldestCreateTime: opT0},
		{Kind: payment.OpCapture, State: payment.OpUnknown, Count: 2, OldestCreateTime: opT0.Add(time.Second)},
		{Kind: payment.OpRefund, State: payment.OpPending, Count: 1, OldestCreateTime: opT0.Add(4 * time.Second)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OperationsBacklog (-want +got):\n%s", diff)
	}
}

// testOpTraceParent checks that an operation's trace context is kept as
// given, whether it was created alone or to follow a transition.
func testOpTraceParent(t *testing.T, st OperationStore) {
	ctx := t.Context()
	ps, ok := st.(store.Store)
	if !ok {
		t.Fatalf("%T keeps operations but no payments", st)
	}
	traced := newOp("tp1", "P01", opT0)
	traced.TraceParent = traceParent
	if got := mustCreateOp(t, st, traced, "w1"); got.TraceParent != traceParent {
		t.Errorf("CreateOperation returned trace parent %q, want %q", got.TraceParent, traceParent)
	}
	if got := mustCreateOp(t, st, newOp("tp2", "P01", opT0), "w1"); got.TraceParent != "" {
		t.Errorf("untraced operation: trace parent %q, want none", got.TraceParent)
	}
	mustCreate(t, ps, attempt("cs-tp", "order-tp", opT0), "w1")
	follow := newOp("tp3", "P-tp", opT0)
	follow.LeaseOwner, follow.TraceParent = "follow", traceParent
	mustTransition(t, ps, "cs-tp", payment.Transition{Outcome: payment.Completed, Time: opT0,
		Then: func(payment.Payment) []payment.Operation { return []payment.Operation{follow} }})
	if _, _, err := st.AdvanceOperation(ctx, "tp1", payment.OpUpdate{State: payment.OpUnknown, NextCheckTime: opT0, Time: opT0}); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.ClaimDueOperations(ctx, []payment.OpState{payment.OpSending, payment.OpUnknown}, opT0.Add(time.Hour), 10, time.Minute, "w2")
	if err != nil || len(claimed) != 3 {
		t.Fatalf("ClaimDueOperations = %d, %v; want 3", len(claimed), err)
	}
	for _, op := range claimed {
		want := traceParent
		if op.ID == "tp2" {
			want = ""
		}
		if op.TraceParent != want {
			t.Errorf("claimed %s: trace parent %q, want %q", op.ID, op.TraceParent, want)
		}
	}
	if got, _ := st.GetOperation(ctx, "tp3"); got.TraceParent != traceParent {
		t.Errorf("operation following a transition: trace parent %q, want %q", got.TraceParent, traceParent)
	}
}
