// Package store defines how payments are kept durably. Implementations live
// in subpackages (sqlite, postgres) and all pass the conformance suite in
// storetest, so the completion logic and the tracker can rely on exactly the
// behaviour documented here.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// Errors returned by every implementation (wrapped; test with errors.Is).
var (
	// ErrNotFound: no payment for the key.
	ErrNotFound = errors.New("store: payment not found")
	// ErrLeaseLost: the payment is not (or no longer) leased to the caller,
	// or no longer in a state the operation applies to.
	ErrLeaseLost = errors.New("store: lease not held")
	// ErrUnavailable: the database could not be reached; the operation may be
	// retried.
	ErrUnavailable = errors.New("store: unavailable")
)

// Store keeps payments. All methods are safe for concurrent use, also by
// several processes sharing one database where the implementation allows it.
// Times are stored with at least millisecond precision and returned in UTC.
type Store interface {
	// CreateAttempt records a new completion attempt. p must have outcome
	// payment.Completing, CreateTime/UpdateTime set, and NextCheckTime set to
	// when the attempt counts as abandoned (the in-flight lease); the row is
	// leased to leaseOwner. If a payment for p.CheckoutSessionID already
	// exists nothing changes and the existing payment is returned with
	// created == false: the database, not the caller, decides which of
	// concurrent duplicates goes ahead.
	CreateAttempt(ctx context.Context, p payment.Payment, leaseOwner string) (stored payment.Payment, created bool, err error)

	// Get returns the payment of a checkout session, or ErrNotFound.
	Get(ctx context.Context, checkoutSessionID string) (payment.Payment, error)

	// GetLatestByOrder returns the most recently created payment of an order,
	// or ErrNotFound.
	GetLatestByOrder(ctx context.Context, orderID string) (payment.Payment, error)

	// DeleteAttempt removes an attempt that is still payment.Completing and
	// leased to leaseOwner: Amazon Pay answered that the request was wrong and
	// there is nothing to record. Otherwise it changes nothing and returns
	// ErrLeaseLost.
	DeleteAttempt(ctx context.Context, checkoutSessionID, leaseOwner string) error

	// Transition records t if t.Outcome ranks above the stored outcome
	// (payment.Outcome.Rank): it sets the outcome and the non-empty IDs,
	// reason and charge state, UpdateTime = t.Time, SettleTime = t.Time for a
	// final outcome, NextCheckTime = t.NextCheckTime, clears the lease,
	// increments CheckAttempts if t.Checked, and increments Version. Otherwise it changes nothing. It returns the payment
	// as stored afterwards and whether it changed; ErrNotFound if there is no
	// payment.
	Transition(ctx context.Context, checkoutSessionID string, t payment.Transition) (stored payment.Payment, changed bool, err error)

	// ClaimDue leases up to limit payments whose outcome is one of outcomes
	// and whose NextCheckTime is at or before now, and whose lease is free or
	// expired (the lease expiry is NextCheckTime itself). Each claimed payment
	// gets NextCheckTime = now+lease and LeaseOwner = owner, and is returned
	// as stored after the claim, earliest due first. A payment is claimed by
	// one caller at a time, also across processes. The cost depends on the
	// number of due payments, not on the number stored. A claim only moves
	// the lease: it leaves Version unchanged and is not announced to
	// watchers.
	ClaimDue(ctx context.Context, outcomes []payment.Outcome, now time.Time, limit int, lease time.Duration, owner string) ([]payment.Payment, error)

	// Reschedule records an inconclusive check of a payment leased to owner:
	// NextCheckTime = next, CheckAttempts+1, lease cleared, UpdateTime = now,
	// Version+1. ErrLeaseLost if the payment is not leased to owner (also
	// when it does not exist) or is final.
	Reschedule(ctx context.Context, checkoutSessionID, owner string, next, now time.Time) (payment.Payment, error)

	// List returns up to q.Limit payments matching q, newest first: by
	// CreateTime descending, then CheckoutSessionID descending, so the order
	// is total. With q.After set it continues after that position, so a
	// listing paged this way sees every matching payment created before its
	// first page exactly once, whatever is inserted meanwhile. The cost
	// depends on q.Limit and the number of outcomes asked for, not on the
	// number of payments stored. It reads only and is not announced.
	List(ctx context.Context, q ListQuery) ([]payment.Payment, error)

	// ExtendLease keeps a payment leased to owner while its work is under
	// way: NextCheckTime (the lease expiry) = until. Nothing else changes:
	// Version stays and watchers are not told. ErrLeaseLost if the payment
	// is not leased to owner (also when it does not exist) or is final.
	ExtendLease(ctx context.Context, checkoutSessionID, owner string, until time.Time) error

	// Nudge makes the unsettled payments that track ref due for a check at
	// now, because Amazon Pay announced a change of that object (an
	// Instant Payment Notification). A payment whose lease is free (no
	// owner, or expired) gets NextCheckTime = min(NextCheckTime, now); one
	// leased right now keeps its lease and is marked, so that the holder's
	// Reschedule or Transition schedules it at once instead of later (its
	// check may have read Amazon before the change). A claim clears the
	// mark: the check it leads to reads Amazon after the nudge. Nothing
	// else changes: Version stays and watchers are not told. It returns how
	// many payments matched (0 for an object no payment tracks). A
	// REFUND or a CHARGE_PERMISSION matches no payment (a payment waits
	// for its charge only). Stores that keep Operations also make the
	// unsettled operations on a CHARGE (unknown, or a capture in
	// progress), and the unsettled refunds on a REFUND's charge permission,
	// due at now when their lease is free, and the CHARGE's expiry watch
	// waiting for the expiry (kind expiry, sending) whatever its lease,
	// and count them. Once it
	// returns without error the nudge is durable.
	Nudge(ctx context.Context, ref ObjectRef, now time.Time) (int, error)

	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error

	// Close releases the store's resources.
	Close() error
}

// ObjectType is the kind of Amazon Pay object a notification names.
type ObjectType string

// The object types of Amazon Pay's notifications.
const (
	ObjectCharge           ObjectType = "CHARGE"
	ObjectChargePermission ObjectType = "CHARGE_PERMISSION"
	ObjectRefund           ObjectType = "REFUND"
)

// ObjectRef names one Amazon Pay object: a charge (matched against
// Payment.ChargeID), a charge permission (Payment.ChargePermissionID) or a
// refund.
type ObjectRef struct {
	Type ObjectType
	ID   string
	// ChargePermissionID is the notification's ChargePermissionId. A
	// REFUND is matched by it: the unsettled refunds on that permission's
	// charges are nudged, since a refund's own ID is only known from
	// Amazon's answer.
	ChargePermissionID string
}

// ListQuery selects the payments List returns.
type ListQuery struct {
	// Outcomes keeps payments whose outcome is one of these; empty keeps
	// every outcome.
	Outcomes []payment.Outcome
	// CreatedFrom keeps payments created at or after it; zero: no bound.
	CreatedFrom time.Time
	// CreatedBefore keeps payments created before it; zero: no bound.
	CreatedBefore time.Time
	// After, when set, keeps only payments that come after it in List's
	// order: created before After.CreateTime, or at the same time with a
	// smaller checkout session ID. It is the last payment of the previous
	// page.
	After *ListPosition
	// Limit is the most payments returned; it must be positive.
	Limit int
	// UnknownOperationsBefore, when set, keeps only payments with an
	// operation on their charge permission whose outcome is not known yet
	// (as UnknownOperationCounter counts them) and that was created before
	// it: the operations past their reconciliation budget. Only stores
	// that keep Operations support it; the others refuse it.
	UnknownOperationsBefore time.Time
}

// ListPosition is a place in List's order, the key of one payment.
type ListPosition struct {
	CreateTime        time.Time
	CheckoutSessionID string
}

// Backlog is how many payments wait in one unsettled outcome (completing,
// unknown or pending), for monitoring. Stores that can tell it cheaply (the
// cost depends on the number of unsettled payments, not on all stored)
// implement Backlogger.
type Backlog struct {
	Outcome payment.Outcome
	// Count is the number of payments in Outcome.
	Count int64
	// OldestCreateTime is the creation time of the oldest of them.
	OldestCreateTime time.Time
	// EarliestCheckTime is the earliest NextCheckTime among them: when the
	// next of them is due for a check (or its lease expires).
	EarliestCheckTime time.Time
}

// Backlogger reports the backlog of every unsettled outcome that has
// payments; outcomes without payments are left out.
type Backlogger interface {
	Backlog(ctx context.Context) ([]Backlog, error)
}
