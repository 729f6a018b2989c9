package chargeops

import "github.com/paymentcompletion/paymentcompletion/internal/payment"

// Outcomes are the outcomes each operation's RPC documents (the comment on
// its response's outcome in the proto, which a test compares): an
// operation answers no other. Failures are errors, not outcomes.
var Outcomes = map[payment.OpKind][]payment.Outcome{
	payment.OpCapture: {payment.Completed, payment.Pending, payment.Declined, payment.Unknown},
	payment.OpCancel:  {payment.Canceled, payment.Unknown},
	payment.OpRefund:  {payment.Completed, payment.Pending, payment.Declined, payment.Unknown},
	payment.OpCharge:  {payment.Completed, payment.Pending, payment.Declined, payment.Canceled, payment.Unknown},
	payment.OpClose:   {payment.Completed, payment.Unknown},
}

// chargeOutcome is what a charge recorded as the result of an operation
// of kind means as that operation's answer. The operations record only
// charges that show their own effect (see attribute), so a state outside
// the operation's contract is not its answer: unknown.
func chargeOutcome(kind payment.OpKind, state string) payment.Outcome {
	switch kind {
	case payment.OpCapture:
		switch state {
		case payment.ChargeCaptured:
			return payment.Completed
		case payment.ChargeCaptureInitiated:
			return payment.Pending
		case payment.ChargeDeclined:
			return payment.Declined // the capture was declined
		}
	case payment.OpCancel:
		if state == payment.ChargeCanceled {
			return payment.Canceled
		}
	case payment.OpCharge:
		switch state {
		case payment.ChargeAuthorized, payment.ChargeCaptured:
			return payment.Completed
		case payment.ChargeAuthorizationInitiated, payment.ChargeCaptureInitiated:
			return payment.Pending
		case payment.ChargeDeclined:
			return payment.Declined
		case payment.ChargeCanceled:
			// Canceled while its authorization was pending (a
			// cancellation, a closure canceling pending charges).
			return payment.Canceled
		}
	default:
		// Not an RPC's answer (expiry checks): the charge as read.
		switch state {
		case payment.ChargeCaptureInitiated, payment.ChargeAuthorizationInitiated:
			return payment.Pending
		case payment.ChargeDeclined:
			return payment.Declined
		case payment.ChargeCanceled:
			return payment.Canceled
		}
		return payment.Completed
	}
	return payment.Unknown
}
