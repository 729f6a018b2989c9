// Package payment holds the service's domain model: a payment is one Amazon
// Pay checkout session completed for one storefront order, and its outcome
// only ever moves forward.
package payment

import (
	"fmt"
	"strings"
	"time"
)

// Outcome is where a payment stands. The zero value is invalid.
type Outcome string

// Outcomes, in the order a payment may move through them. Completing is the
// service's own in-flight state: the attempt is recorded and Amazon Pay is
// being asked; callers see it as unknown.
const (
	Completing Outcome = "completing"
	Unknown    Outcome = "unknown"
	Pending    Outcome = "pending"
	Completed  Outcome = "completed"
	Declined   Outcome = "declined"
	Canceled   Outcome = "canceled"
)

// Rank orders outcomes: a payment may only move to an outcome of higher rank,
// so a final outcome never changes and nothing moves back to in-flight.
func (o Outcome) Rank() int {
	switch o {
	case Completing:
		return 1
	case Unknown:
		return 2
	case Pending:
		return 3
	case Completed, Declined, Canceled:
		return 4
	default:
		return 0
	}
}

// Final reports whether the outcome can no longer change.
func (o Outcome) Final() bool { return o.Rank() == 4 }

// Valid reports whether o is one of the defined outcomes.
func (o Outcome) Valid() bool { return o.Rank() > 0 }

// ParseOutcome converts a stored outcome name back to an Outcome.
func ParseOutcome(s string) (Outcome, error) {
	o := Outcome(s)
	if !o.Valid() {
		return "", fmt.Errorf("payment: unknown outcome %q", s)
	}
	return o, nil
}

// Money is an amount as Amazon Pay writes it: a decimal string with the
// currency's decimal places ("14.00" USD, "1000" JPY). It is never converted
// to a floating-point number.
type Money struct {
	Amount       string
	CurrencyCode string
}

// Payment is the record of one completion.
type Payment struct {
	CheckoutSessionID string
	OrderID           string
	ChargeAmount      Money
	// TotalOrderAmount is nil when the caller sent none.
	TotalOrderAmount *Money

	Outcome            Outcome
	ChargePermissionID string
	ChargeID           string
	// ReasonCode is Amazon Pay's reason for a declined or canceled outcome.
	ReasonCode string
	// ChargeState is the last Amazon Pay charge state learned, verbatim
	// ("Authorized", "AuthorizationInitiated", ...), or "".
	ChargeState string

	CreateTime time.Time
	UpdateTime time.Time
	// SettleTime is when the outcome became final; zero before.
	SettleTime time.Time
	// NextCheckTime is when Amazon Pay should next be asked about the payment
	// (reconciliation of completing/unknown, polling of pending); zero when
	// no check is scheduled (final outcomes).
	NextCheckTime time.Time
	// CheckAttempts counts the checks made after the completion call.
	CheckAttempts int
	// LeaseOwner is the worker that currently holds the payment's check (or
	// the in-flight completion); "" when none.
	LeaseOwner string
	// Version increases by one on every stored change; watchers use it to
	// tell a change from a repeat.
	Version int64
	// TraceParent is the W3C traceparent of the call that recorded the
	// attempt ("" when it was not traced), kept so that background work
	// on the payment can be linked to that trace. Set at creation only.
	TraceParent string
}

// SameRequest reports whether q asks for the same completion as p: same
// order, same charge amount and same order total. A repeated request must
// match exactly to be answered from the stored payment.
func (p Payment) SameRequest(q Payment) bool {
	if p.OrderID != q.OrderID || p.ChargeAmount != q.ChargeAmount {
		return false
	}
	if (p.TotalOrderAmount == nil) != (q.TotalOrderAmount == nil) {
		return false
	}
	return p.TotalOrderAmount == nil || *p.TotalOrderAmount == *q.TotalOrderAmount
}

// Transition is a learned result to record on a payment.
type Transition struct {
	Outcome            Outcome
	ChargePermissionID string
	ChargeID           string
	ReasonCode         string
	ChargeState        string
	// NextCheckTime schedules the next check for a non-final outcome; it
	// must be zero for a final one.
	NextCheckTime time.Time
	// Time is when the result was learned; it becomes UpdateTime (and
	// SettleTime for a final outcome).
	Time time.Time
	// Checked: the result was learned by a check after the completion call
	// (a poll of a pending charge, a reconciliation), which CheckAttempts
	// counts.
	Checked bool
	// Then, if set, gives the operations that must follow the transition,
	// from the payment as the transition leaves it. The store records them
	// (each as for CreateOperation, leased to its LeaseOwner; one whose ID
	// exists is kept as it is) in the transaction of the transition, and
	// only if the transition changes the payment, so a crash cannot keep
	// the one without the other. It may be called more than once.
	Then func(Payment) []Operation
}

// CanonicalCheckoutSessionID returns the one spelling of a checkout session
// ID that the service stores and sends to Amazon Pay: lower case, as Amazon
// Pay issues them. Session IDs are UUIDs, which compare case-insensitively,
// so "3F8C..." and "3f8c..." name one session and must be one payment.
func CanonicalCheckoutSessionID(id string) string { return strings.ToLower(id) }
