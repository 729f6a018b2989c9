package payment

import (
	"fmt"
	"math/big"
	"strings"
	"time"
)

// OpKind names an operation on Amazon Pay after the completion.
type OpKind string

// Operation kinds.
const (
	OpCapture OpKind = "capture"
	OpCancel  OpKind = "cancel"
	OpRefund  OpKind = "refund"
	OpCharge  OpKind = "charge"
	OpClose   OpKind = "close"
	// OpReference sets the order ID as the charge permission's
	// merchantReferenceId after a completion.
	OpReference OpKind = "reference"
	// OpExpiry reads an Authorized charge back from Amazon Pay after its
	// authorization's expiry (30 days) and records the state Amazon
	// answers (Canceled with ExpiredUnused, or Captured elsewhere).
	OpExpiry OpKind = "expiry"
)

// OpState is where an operation stands; like an Outcome it only moves
// forward (OpState.Rank).
type OpState string

// Operation states. Sending is the service's own in-flight state: the
// operation is recorded and Amazon Pay is being asked. Unknown: Amazon's
// answer was lost and could not be read back; the reconciler finds out.
// Pending: Amazon accepted the operation and finishes it asynchronously
// (CaptureInitiated); the tracker polls it. Done: Amazon's final answer is
// recorded in Result.
const (
	OpSending OpState = "sending"
	OpUnknown OpState = "unknown"
	OpPending OpState = "pending"
	OpDone    OpState = "done"
)

// Rank orders states; an operation only moves to a state of higher rank.
func (s OpState) Rank() int {
	switch s {
	case OpSending:
		return 1
	case OpUnknown:
		return 2
	case OpPending:
		return 3
	case OpDone:
		return 4
	default:
		return 0
	}
}

// Valid reports whether s is a defined state.
func (s OpState) Valid() bool { return s.Rank() > 0 }

// ParseOpState converts a stored state name back to an OpState.
func ParseOpState(s string) (OpState, error) {
	o := OpState(s)
	if !o.Valid() {
		return "", fmt.Errorf("payment: unknown operation state %q", s)
	}
	return o, nil
}

// Operation is the record of one change the service made (or is making)
// at Amazon Pay on an existing object, keyed by the caller's idempotency
// key: a capture, a cancellation or a refund of a charge.
type Operation struct {
	// ID is derived from Kind, ObjectID and IdempotencyKey, and is also the
	// x-amz-pay-idempotency-key the operation is sent with.
	ID             string
	Kind           OpKind
	ObjectID       string
	IdempotencyKey string
	// Request is the operation's arguments in canonical form: a repeat with
	// the same key must carry the same.
	Request string
	// ChargePermissionID ties the operation to a payment.
	ChargePermissionID string
	State              OpState
	// Result is Amazon Pay's object (JSON) as last answered or read back;
	// empty until known.
	Result     []byte
	ReasonCode string

	CreateTime    time.Time
	UpdateTime    time.Time
	NextCheckTime time.Time
	CheckAttempts int
	LeaseOwner    string
	Version       int64
	// TraceParent is the W3C traceparent of the call the operation comes
	// from (for the work following a completion, the payment's); "" when
	// not traced. Background work on it is linked to that trace. Set at
	// creation only.
	TraceParent string
}

// OpUpdate is a learned state to record on an operation.
type OpUpdate struct {
	State              OpState
	Result             []byte
	ReasonCode         string
	ChargePermissionID string
	// NextCheckTime schedules the next check of a state below OpDone; zero
	// for OpDone.
	NextCheckTime time.Time
	Time          time.Time
	// Checked: learned by a check after the operation's call.
	Checked bool
}

// decimalsOf returns the currency's decimal places (2 when unknown).
func decimalsOf(currency string) int {
	if r, ok := currencies[currency]; ok {
		return r.decimals
	}
	return 2
}

// minorUnits reads a decimal amount of the currency as an integer of its
// smallest unit; ok is false for an amount that is not a plain decimal.
func minorUnits(m Money) (*big.Int, bool) {
	d := decimalsOf(m.CurrencyCode)
	intPart, frac, _ := strings.Cut(m.Amount, ".")
	if intPart == "" || !digits(intPart) || (frac != "" && !digits(frac)) || len(frac) > d {
		return nil, false
	}
	frac += strings.Repeat("0", d-len(frac))
	v, ok := new(big.Int).SetString(intPart+frac, 10)
	return v, ok
}

func fromMinor(v *big.Int, currency string) Money {
	d := decimalsOf(currency)
	s := v.String()
	if d > 0 {
		if len(s) <= d {
			s = strings.Repeat("0", d-len(s)+1) + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
	}
	return Money{Amount: s, CurrencyCode: currency}
}

// Sum adds amounts of one currency exactly; ok is false if one is
// malformed or in another currency. The sum of none is zero in currency.
func Sum(currency string, ms ...Money) (Money, bool) {
	total := new(big.Int)
	for _, m := range ms {
		if m.CurrencyCode != currency {
			return Money{}, false
		}
		v, ok := minorUnits(m)
		if !ok {
			return Money{}, false
		}
		total.Add(total, v)
	}
	return fromMinor(total, currency), true
}

// Compare compares two amounts of one currency: -1, 0 or +1; ok is false
// if either is malformed or the currencies differ.
func Compare(a, b Money) (int, bool) {
	if a.CurrencyCode != b.CurrencyCode {
		return 0, false
	}
	x, ok1 := minorUnits(a)
	y, ok2 := minorUnits(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	return x.Cmp(y), true
}

// Fraction returns m times num/den, rounded down to the currency's
// smallest unit; ok is false for a malformed amount or a non-positive den.
func Fraction(m Money, num, den int64) (Money, bool) {
	v, ok := minorUnits(m)
	if !ok || den <= 0 {
		return Money{}, false
	}
	v.Mul(v, big.NewInt(num))
	v.Quo(v, big.NewInt(den))
	return fromMinor(v, m.CurrencyCode), true
}
