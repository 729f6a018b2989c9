package sqlstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// OpStates lists every operation state, for OpRankSQL.
var OpStates = []payment.OpState{payment.OpSending, payment.OpUnknown, payment.OpPending, payment.OpDone}

// OpDoneRank is the rank of the final operation state.
var OpDoneRank = payment.OpDone.Rank()

// OpRankSQL is the SQL form of payment.OpState.Rank of column.
func OpRankSQL(column string) string {
	var b strings.Builder
	b.WriteString("(CASE ")
	b.WriteString(column)
	for _, s := range OpStates {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", s, s.Rank())
	}
	b.WriteString(" ELSE 0 END)")
	return b.String()
}

// CheckCreateOperation rejects a CreateOperation call that breaks the
// store.Operations contract.
func CheckCreateOperation(op payment.Operation, leaseOwner string) error {
	switch {
	case op.ID == "" || op.Kind == "" || op.ObjectID == "":
		return errors.New("store: create operation: empty ID, kind or object")
	case op.State != payment.OpSending:
		return fmt.Errorf("store: create operation: state %q, want %q", op.State, payment.OpSending)
	case op.CreateTime.IsZero() || op.UpdateTime.IsZero() || op.NextCheckTime.IsZero():
		return errors.New("store: create operation: create, update and next check time must be set")
	case leaseOwner == "":
		return errors.New("store: create operation: empty lease owner")
	}
	return nil
}

// CheckAdvance rejects an AdvanceOperation that breaks the contract.
func CheckAdvance(u payment.OpUpdate) error {
	switch {
	case !u.State.Valid():
		return fmt.Errorf("store: advance operation: invalid state %q", u.State)
	case u.Time.IsZero():
		return errors.New("store: advance operation: time must be set")
	case u.State == payment.OpDone && !u.NextCheckTime.IsZero():
		return errors.New("store: advance operation: done with a next check time")
	case u.State != payment.OpDone && u.NextCheckTime.IsZero():
		return fmt.Errorf("store: advance operation: state %q without a next check time", u.State)
	}
	return nil
}

// CheckClaimOperations rejects a ClaimDueOperations call that breaks the
// contract.
func CheckClaimOperations(states []payment.OpState, lease time.Duration, owner string) error {
	switch {
	case owner == "":
		return errors.New("store: claim operations: empty owner")
	case lease <= 0:
		return errors.New("store: claim operations: lease must be positive")
	}
	for _, s := range states {
		if !s.Valid() || s == payment.OpDone {
			return fmt.Errorf("store: claim operations: state %q cannot be claimed", s)
		}
	}
	return nil
}

// UnknownOperationsSQL is the condition on payments of
// store.ListQuery.UnknownOperationsBefore, before being the placeholder of
// that time; it reads the operations through their partial index on
// next_check_time (only operations not done are in it).
func UnknownOperationsSQL(before string) string {
	return `charge_permission_id <> '' AND charge_permission_id IN (SELECT charge_permission_id FROM operations
			WHERE next_check_time IS NOT NULL AND state IN ('sending', 'unknown') AND kind <> 'expiry'
				AND create_time < ` + before + `)`
}

// OpStateNames returns the states as stored.
func OpStateNames(states []payment.OpState) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}
