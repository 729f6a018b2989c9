// Package watch tells interested goroutines that a payment changed, so that
// WatchPayment streams and duplicate completions waiting on an in-flight one
// re-read the store instead of polling Amazon Pay. Notifications carry only
// the checkout session ID: the store stays the single source of truth, and a
// missed or coalesced notification costs at most one extra read.
package watch

import (
	"context"
	"sync"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// Hub fans change notifications out to subscribers of one checkout session.
// The zero value is not usable; call NewHub.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: make(map[string]map[chan struct{}]struct{})} }

// Subscribe returns a channel that receives a value after each Publish of
// checkoutSessionID (coalesced: several changes may yield one value), and a
// function that ends the subscription.
func (h *Hub) Subscribe(checkoutSessionID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	set := h.subs[checkoutSessionID]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		h.subs[checkoutSessionID] = set
	}
	set[ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(set, ch)
			if cur := h.subs[checkoutSessionID]; cur != nil && len(cur) == 0 {
				delete(h.subs, checkoutSessionID)
			}
			h.mu.Unlock()
		})
	}
}

// Publish notifies the subscribers of checkoutSessionID. An empty ID
// notifies every subscriber (used after a lost connection to a shared
// database, when any payment may have changed).
func (h *Hub) Publish(checkoutSessionID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if checkoutSessionID == "" {
		for _, set := range h.subs {
			notify(set)
		}
		return
	}
	notify(h.subs[checkoutSessionID])
}

func notify(set map[chan struct{}]struct{}) {
	for ch := range set {
		select {
		case ch <- struct{}{}:
		default: // a notification is already pending; they coalesce
		}
	}
}

// Subscribers returns the number of live subscriptions (for tests and
// metrics).
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.subs {
		n += len(set)
	}
	return n
}

// Wrap returns a store.Store that publishes to h after every write that
// changed a payment, so subscribers in this process learn of changes at once.
// Changes made by other processes arrive through the database's own change
// feed where it has one, or through the watchers' periodic re-read.
func (h *Hub) Wrap(s store.Store) store.Store { return &notifyingStore{Store: s, hub: h} }

type notifyingStore struct {
	store.Store
	hub *Hub
}

func (n *notifyingStore) CreateAttempt(ctx context.Context, p payment.Payment, owner string) (payment.Payment, bool, error) {
	got, created, err := n.Store.CreateAttempt(ctx, p, owner)
	if err == nil && created {
		n.hub.Publish(p.CheckoutSessionID)
	}
	return got, created, err
}

func (n *notifyingStore) DeleteAttempt(ctx context.Context, id, owner string) error {
	err := n.Store.DeleteAttempt(ctx, id, owner)
	if err == nil {
		n.hub.Publish(id)
	}
	return err
}

func (n *notifyingStore) Transition(ctx context.Context, id string, t payment.Transition) (payment.Payment, bool, error) {
	got, changed, err := n.Store.Transition(ctx, id, t)
	if err == nil && changed {
		n.hub.Publish(id)
	}
	return got, changed, err
}

func (n *notifyingStore) Reschedule(ctx context.Context, id, owner string, next, now time.Time) (payment.Payment, error) {
	got, err := n.Store.Reschedule(ctx, id, owner, next, now)
	if err == nil {
		n.hub.Publish(id)
	}
	return got, err
}

// ClaimDue changes lease fields only; watchers are not told (nothing a
// caller sees changed except the next check time).

// ChargePermissionKey is the hub key under which changes of the operations
// on a charge permission are published. Watchers of a payment subscribe to
// it once the payment's charge permission is known. The "CP:" prefix keeps
// it apart from every checkout session ID, which is stored in lower case
// (payment.CanonicalCheckoutSessionID); PostgreSQL's operations trigger
// announces the same key.
func ChargePermissionKey(chargePermissionID string) string { return "CP:" + chargePermissionID }

// WrapOperations returns a store.Operations that publishes to h after every
// write that changed what a watcher of the operation's payment sees (an
// operation recorded, advanced, rescheduled or deleted), under
// ChargePermissionKey. Claims and lease extensions are not announced.
func (h *Hub) WrapOperations(s store.Operations) store.Operations {
	return &notifyingOperations{Operations: s, hub: h}
}

type notifyingOperations struct {
	store.Operations
	hub *Hub
}

func (n *notifyingOperations) publish(op payment.Operation) {
	if op.ChargePermissionID != "" {
		n.hub.Publish(ChargePermissionKey(op.ChargePermissionID))
	}
}

func (n *notifyingOperations) CreateOperation(ctx context.Context, op payment.Operation, leaseOwner string) (payment.Operation, bool, error) {
	got, created, err := n.Operations.CreateOperation(ctx, op, leaseOwner)
	if err == nil && created {
		n.publish(got)
	}
	return got, created, err
}

func (n *notifyingOperations) BindOperation(ctx context.Context, id, leaseOwner, chargePermissionID string) error {
	err := n.Operations.BindOperation(ctx, id, leaseOwner, chargePermissionID)
	if err == nil {
		n.publish(payment.Operation{ChargePermissionID: chargePermissionID})
	}
	return err
}

func (n *notifyingOperations) DeleteOperation(ctx context.Context, id, leaseOwner string) error {
	// The operation is gone afterwards: read whose it is first. A failed
	// read only costs the watchers their periodic re-read.
	op, getErr := n.Operations.GetOperation(ctx, id)
	err := n.Operations.DeleteOperation(ctx, id, leaseOwner)
	if err == nil && getErr == nil {
		n.publish(op)
	}
	return err
}

func (n *notifyingOperations) AdvanceOperation(ctx context.Context, id string, u payment.OpUpdate) (payment.Operation, bool, error) {
	got, changed, err := n.Operations.AdvanceOperation(ctx, id, u)
	if err == nil && changed {
		n.publish(got)
	}
	return got, changed, err
}

func (n *notifyingOperations) RescheduleOperation(ctx context.Context, id, owner string, next, now time.Time) (payment.Operation, error) {
	got, err := n.Operations.RescheduleOperation(ctx, id, owner, next, now)
	if err == nil {
		n.publish(got)
	}
	return got, err
}

// Follow calls fn with the stored payment of checkoutSessionID, then again
// each time its Version changes, until fn returns false, fn fails, or ctx
// ends (ctx.Err() is returned then). It re-reads on every notification from
// h and, as a safety net for changes made elsewhere without a notification,
// every recheck. Any store error ends it and is returned as is
// (store.ErrNotFound when nothing is stored for the session), as is fn's.
func Follow(ctx context.Context, h *Hub, s store.Store, checkoutSessionID string, recheck time.Duration, fn func(payment.Payment) (more bool, err error)) error {
	return follow(ctx, h, s, checkoutSessionID, recheck, false, fn)
}

// FollowAll is Follow for callers that show more than the payment row (the
// operations on its charge permission): fn is called after every re-read,
// whether or not the payment's Version changed, and also re-reads on
// notifications of its charge permission's operations. fn tells repeats
// apart itself.
func FollowAll(ctx context.Context, h *Hub, s store.Store, checkoutSessionID string, recheck time.Duration, fn func(payment.Payment) (more bool, err error)) error {
	return follow(ctx, h, s, checkoutSessionID, recheck, true, fn)
}

func follow(ctx context.Context, h *Hub, s store.Store, checkoutSessionID string, recheck time.Duration, all bool, fn func(payment.Payment) (more bool, err error)) error {
	changes, stop := h.Subscribe(checkoutSessionID)
	defer stop()
	// opChanges stays nil (never ready) until the charge permission is
	// known.
	var (
		opChanges <-chan struct{}
		stopOps   func()
		cpKey     string
	)
	defer func() {
		if cpKey != "" {
			stopOps()
		}
	}()
	ticker := time.NewTicker(recheck)
	defer ticker.Stop()
	var last int64 = -1
	for {
		p, err := s.Get(ctx, checkoutSessionID)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if all && cpKey == "" && p.ChargePermissionID != "" {
			cpKey = ChargePermissionKey(p.ChargePermissionID)
			opChanges, stopOps = h.Subscribe(cpKey)
			// fn reads the operations after this, so no change of
			// theirs falls between its read and the subscription.
		}
		if all || p.Version != last {
			last = p.Version
			more, err := fn(p)
			if err != nil || !more {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changes:
		case <-opChanges:
		case <-ticker.C:
		}
	}
}
