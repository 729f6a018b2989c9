package store

import (
	"context"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// Operations keeps the operations made on Amazon Pay objects after a
// completion (captures, cancellations), with the same guarantees as
// payments: the database decides which of concurrent duplicates goes
// ahead, states only move forward (payment.OpState.Rank), and due work is
// leased to one worker at a time. Both stores implement it and pass the
// conformance suite in storetest.
type Operations interface {
	// CreateOperation records a new operation. op must be payment.OpSending
	// with ID, Kind, ObjectID, CreateTime/UpdateTime and NextCheckTime (the
	// in-flight lease) set; it is leased to leaseOwner. If an operation with
	// op.ID exists nothing changes and it is returned with created == false.
	CreateOperation(ctx context.Context, op payment.Operation, leaseOwner string) (stored payment.Operation, created bool, err error)

	// GetOperation returns an operation by ID, or ErrNotFound.
	GetOperation(ctx context.Context, id string) (payment.Operation, error)

	// ListOperations returns the operations of a charge permission, oldest
	// first (then by ID).
	ListOperations(ctx context.Context, chargePermissionID string) ([]payment.Operation, error)

	// DeleteOperation removes an operation still payment.OpSending and
	// leased to leaseOwner (Amazon Pay answered that it was wrong, or it was
	// certainly not applied); otherwise it changes nothing and returns
	// ErrLeaseLost.
	DeleteOperation(ctx context.Context, id, leaseOwner string) error

	// BindOperation records the charge permission an operation in flight
	// belongs to, learned by the check that runs after the operation is
	// recorded (so that the database decides between duplicates before
	// anything is read from Amazon Pay): of an operation still
	// payment.OpSending and leased to leaseOwner; ErrLeaseLost otherwise.
	BindOperation(ctx context.Context, id, leaseOwner, chargePermissionID string) error

	// AdvanceOperation records u if u.State ranks above the stored state:
	// state, the non-empty result, reason and charge permission, UpdateTime
	// = u.Time, NextCheckTime = u.NextCheckTime, lease cleared,
	// CheckAttempts+1 if u.Checked, Version+1. Otherwise nothing changes. It
	// returns the operation as stored and whether it changed; ErrNotFound
	// if there is none.
	AdvanceOperation(ctx context.Context, id string, u payment.OpUpdate) (stored payment.Operation, changed bool, err error)

	// ClaimDueOperations leases up to limit operations in one of states
	// whose NextCheckTime is at or before now (a free or expired lease):
	// NextCheckTime = now+lease, LeaseOwner = owner; earliest due first.
	ClaimDueOperations(ctx context.Context, states []payment.OpState, now time.Time, limit int, lease time.Duration, owner string) ([]payment.Operation, error)

	// RescheduleOperation records an inconclusive check of an operation
	// leased to owner: NextCheckTime = next, CheckAttempts+1, lease
	// cleared, UpdateTime = now, Version+1. ErrLeaseLost if it is not
	// leased to owner or is done.
	RescheduleOperation(ctx context.Context, id, owner string, next, now time.Time) (payment.Operation, error)

	// ExtendOperationLease sets NextCheckTime = until of an operation
	// leased to owner and not done; ErrLeaseLost otherwise.
	ExtendOperationLease(ctx context.Context, id, owner string, until time.Time) error
}

// UnknownOperationCounter counts the operations whose outcome is still
// not known (payment.OpSending or payment.OpUnknown) and that were
// created before a time, per kind; expiry watches (payment.OpExpiry),
// which wait in flight by design, are left out, as are kinds with none.
// Both stores implement it; the operator's signal of operations past
// their reconciliation budget is read from it.
type UnknownOperationCounter interface {
	CountUnknownOperations(ctx context.Context, createdBefore time.Time) (map[payment.OpKind]int64, error)
}

// OperationBacklog is how many operations of one kind wait in one state
// below done (sending, unknown, pending), for monitoring.
type OperationBacklog struct {
	Kind  payment.OpKind
	State payment.OpState
	// Count is the number of operations of Kind in State.
	Count int64
	// OldestCreateTime is the creation time of the oldest of them.
	OldestCreateTime time.Time
}

// OperationsBacklogger reports the backlog of operations: one row per kind
// and state that has operations not done; the cost grows with those only,
// not with the operations stored.
type OperationsBacklogger interface {
	OperationsBacklog(ctx context.Context) ([]OperationBacklog, error)
}
