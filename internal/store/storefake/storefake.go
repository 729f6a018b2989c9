// Package storefake is an in-memory store.Store for unit tests of the
// code above the store: it keeps the store contract (it passes the
// conformance suite in storetest) and fails the methods a test names, so
// tests can script outages without a database.
package storefake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
)

// Store keeps payments in memory with the store contract's rules
// (unique session, forward-only outcomes, leases). A method named in
// SetFail fails with the error given.
type Store struct {
	mu   sync.Mutex
	rows map[string]payment.Payment
	// nudged marks leased payments nudged during their lease.
	nudged map[string]bool
	fail   map[string]error
	// calls counts calls per method.
	calls map[string]int
}

var _ store.Store = (*Store)(nil)

// New returns an empty store that fails nothing.
func New() *Store {
	return &Store{rows: map[string]payment.Payment{}, nudged: map[string]bool{}, fail: map[string]error{}, calls: map[string]int{}}
}

// ErrDown is an outage, as a real store reports one.
var ErrDown = fmt.Errorf("%w: connection refused", store.ErrUnavailable)

func (f *Store) enter(method string) error {
	f.mu.Lock()
	f.calls[method]++
	return f.fail[method]
}

func (f *Store) SetFail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

func (f *Store) Count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *Store) Put(p payment.Payment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows[p.CheckoutSessionID] = p
}

func (f *Store) Row(id string) (payment.Payment, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.rows[id]
	return p, ok
}

func (f *Store) CreateAttempt(_ context.Context, p payment.Payment, owner string) (payment.Payment, bool, error) {
	defer f.mu.Unlock()
	if err := f.enter("CreateAttempt"); err != nil {
		return payment.Payment{}, false, err
	}
	if err := sqlstore.CheckCreate(p, owner); err != nil {
		return payment.Payment{}, false, err
	}
	if got, ok := f.rows[p.CheckoutSessionID]; ok {
		return got, false, nil
	}
	p = normalize(p)
	p.LeaseOwner, p.Version = owner, 1
	f.rows[p.CheckoutSessionID] = p
	return p, true, nil
}

func (f *Store) Get(_ context.Context, id string) (payment.Payment, error) {
	defer f.mu.Unlock()
	if err := f.enter("Get"); err != nil {
		return payment.Payment{}, err
	}
	p, ok := f.rows[id]
	if !ok {
		return payment.Payment{}, store.ErrNotFound
	}
	return p, nil
}

func (f *Store) GetLatestByOrder(_ context.Context, orderID string) (payment.Payment, error) {
	defer f.mu.Unlock()
	if err := f.enter("GetLatestByOrder"); err != nil {
		return payment.Payment{}, err
	}
	var best payment.Payment
	for _, p := range f.rows {
		if p.OrderID == orderID && (best.CheckoutSessionID == "" || p.CreateTime.After(best.CreateTime)) {
			best = p
		}
	}
	if best.CheckoutSessionID == "" {
		return payment.Payment{}, store.ErrNotFound
	}
	return best, nil
}

func (f *Store) DeleteAttempt(_ context.Context, id, owner string) error {
	defer f.mu.Unlock()
	if err := f.enter("DeleteAttempt"); err != nil {
		return err
	}
	p, ok := f.rows[id]
	if !ok || p.Outcome != payment.Completing || p.LeaseOwner != owner {
		return store.ErrLeaseLost
	}
	delete(f.rows, id)
	delete(f.nudged, id)
	return nil
}

func (f *Store) Transition(_ context.Context, id string, t payment.Transition) (payment.Payment, bool, error) {
	defer f.mu.Unlock()
	if err := f.enter("Transition"); err != nil {
		return payment.Payment{}, false, err
	}
	if err := sqlstore.CheckTransition(t); err != nil {
		return payment.Payment{}, false, err
	}
	p, ok := f.rows[id]
	if !ok {
		return payment.Payment{}, false, store.ErrNotFound
	}
	if t.Outcome.Rank() <= p.Outcome.Rank() {
		return p, false, nil
	}
	p.Outcome = t.Outcome
	for dst, v := range map[*string]string{&p.ChargePermissionID: t.ChargePermissionID, &p.ChargeID: t.ChargeID, &p.ReasonCode: t.ReasonCode, &p.ChargeState: t.ChargeState} {
		if v != "" {
			*dst = v
		}
	}
	p.UpdateTime = t.Time
	if t.Outcome.Final() {
		p.SettleTime = t.Time
	}
	if t.Checked {
		p.CheckAttempts++
	}
	p.NextCheckTime, p.LeaseOwner = t.NextCheckTime, ""
	if f.nudged[id] && !p.NextCheckTime.IsZero() && p.NextCheckTime.After(t.Time) {
		p.NextCheckTime = t.Time
	}
	p.Version++
	p = normalize(p)
	if t.Then != nil {
		// Nothing may follow a transition that this store cannot keep.
		if ops := t.Then(p); len(ops) > 0 {
			return payment.Payment{}, false, fmt.Errorf("storefake: transition: %d operations to follow, and no operations kept", len(ops))
		}
	}
	delete(f.nudged, id)
	f.rows[id] = p
	return p, true, nil
}

func (f *Store) ClaimDue(_ context.Context, outcomes []payment.Outcome, now time.Time, limit int, lease time.Duration, owner string) ([]payment.Payment, error) {
	defer f.mu.Unlock()
	if err := f.enter("ClaimDue"); err != nil {
		return nil, err
	}
	if err := sqlstore.CheckClaim(outcomes, lease, owner); err != nil {
		return nil, err
	}
	var due []payment.Payment
	for _, p := range f.rows {
		if slices.Contains(outcomes, p.Outcome) && !p.NextCheckTime.IsZero() && !p.NextCheckTime.After(now) {
			due = append(due, p)
		}
	}
	slices.SortFunc(due, func(a, b payment.Payment) int {
		if c := a.NextCheckTime.Compare(b.NextCheckTime); c != 0 {
			return c
		}
		return strings.Compare(a.CheckoutSessionID, b.CheckoutSessionID)
	})
	due = due[:min(len(due), limit)]
	for i := range due {
		due[i].NextCheckTime, due[i].LeaseOwner = now.Add(lease), owner
		delete(f.nudged, due[i].CheckoutSessionID)
		due[i] = normalize(due[i])
		f.rows[due[i].CheckoutSessionID] = due[i]
	}
	return due, nil
}

func (f *Store) Reschedule(_ context.Context, id, owner string, next, now time.Time) (payment.Payment, error) {
	defer f.mu.Unlock()
	if err := f.enter("Reschedule"); err != nil {
		return payment.Payment{}, err
	}
	if err := sqlstore.CheckReschedule(owner, next, now); err != nil {
		return payment.Payment{}, err
	}
	p, ok := f.rows[id]
	if !ok || p.LeaseOwner != owner || p.Outcome.Final() {
		return payment.Payment{}, store.ErrLeaseLost
	}
	p.NextCheckTime, p.LeaseOwner, p.UpdateTime = next, "", now
	if f.nudged[id] && next.After(now) {
		p.NextCheckTime = now
	}
	delete(f.nudged, id)
	p.CheckAttempts++
	p.Version++
	p = normalize(p)
	f.rows[id] = p
	return p, nil
}

// List implements store.Store.
func (f *Store) List(_ context.Context, q store.ListQuery) ([]payment.Payment, error) {
	defer f.mu.Unlock()
	if err := f.enter("List"); err != nil {
		return nil, err
	}
	outcomes, err := sqlstore.CheckList(q)
	if err != nil {
		return nil, err
	}
	if !q.UnknownOperationsBefore.IsZero() {
		return nil, errors.New("storefake: list: keeps no operations to filter by")
	}
	var out []payment.Payment
	for _, p := range f.rows {
		switch {
		case !slices.Contains(outcomes, p.Outcome),
			!q.CreatedFrom.IsZero() && p.CreateTime.Before(q.CreatedFrom),
			!q.CreatedBefore.IsZero() && !p.CreateTime.Before(q.CreatedBefore),
			q.After != nil && newer(p, q.After.CreateTime, q.After.CheckoutSessionID) >= 0:
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b payment.Payment) int { return -newer(a, b.CreateTime, b.CheckoutSessionID) })
	return out[:min(len(out), q.Limit)], nil
}

// newer compares p with the position (t, id) in List's order key: > 0 when
// p is newer.
func newer(p payment.Payment, t time.Time, id string) int {
	if c := p.CreateTime.Compare(t); c != 0 {
		return c
	}
	return strings.Compare(p.CheckoutSessionID, id)
}

// ExtendLease implements store.Store.
func (f *Store) ExtendLease(_ context.Context, id, owner string, until time.Time) error {
	defer f.mu.Unlock()
	if err := f.enter("ExtendLease"); err != nil {
		return err
	}
	p, ok := f.rows[id]
	if !ok || p.LeaseOwner != owner || p.Outcome.Final() {
		return store.ErrLeaseLost
	}
	p.NextCheckTime = until
	f.rows[id] = normalize(p)
	return nil
}

// Nudge implements store.Store.
func (f *Store) Nudge(_ context.Context, ref store.ObjectRef, now time.Time) (int, error) {
	defer f.mu.Unlock()
	if err := f.enter("Nudge"); err != nil {
		return 0, err
	}
	col, err := sqlstore.NudgeColumn(ref, now)
	if err != nil || col == "" {
		return 0, err
	}
	n := 0
	for id, p := range f.rows {
		key := p.ChargeID
		if col == "charge_permission_id" {
			key = p.ChargePermissionID
		}
		if key != ref.ID || p.NextCheckTime.IsZero() {
			continue
		}
		n++
		if p.LeaseOwner == "" || !p.NextCheckTime.After(now) {
			if p.NextCheckTime.After(now) {
				p.NextCheckTime = now
			}
			f.rows[id] = normalize(p)
		} else {
			f.nudged[id] = true
		}
	}
	return n, nil
}

func (f *Store) Ping(context.Context) error {
	defer f.mu.Unlock()
	return f.enter("Ping")
}

func (f *Store) Close() error { return nil }

// Backlog implements store.Backlogger.
func (f *Store) Backlog(context.Context) ([]store.Backlog, error) {
	defer f.mu.Unlock()
	if err := f.enter("Backlog"); err != nil {
		return nil, err
	}
	by := map[payment.Outcome]*store.Backlog{}
	var order []payment.Outcome
	for _, p := range f.rows {
		if p.Outcome.Final() || p.NextCheckTime.IsZero() {
			continue
		}
		b := by[p.Outcome]
		if b == nil {
			b = &store.Backlog{Outcome: p.Outcome, OldestCreateTime: p.CreateTime, EarliestCheckTime: p.NextCheckTime}
			by[p.Outcome] = b
			order = append(order, p.Outcome)
		}
		b.Count++
		if p.CreateTime.Before(b.OldestCreateTime) {
			b.OldestCreateTime = p.CreateTime
		}
		if p.NextCheckTime.Before(b.EarliestCheckTime) {
			b.EarliestCheckTime = p.NextCheckTime
		}
	}
	out := make([]store.Backlog, 0, len(order))
	for _, o := range order {
		out = append(out, *by[o])
	}
	return out, nil
}

// normalize keeps times as the databases do: UTC, microseconds.
func normalize(p payment.Payment) payment.Payment {
	for _, t := range []*time.Time{&p.CreateTime, &p.UpdateTime, &p.SettleTime, &p.NextCheckTime} {
		if !t.IsZero() {
			*t = t.UTC().Truncate(time.Microsecond)
		}
	}
	return p
}
