package payment

// Amazon Pay charge states, verbatim.
const (
	ChargeAuthorizationInitiated = "AuthorizationInitiated"
	ChargeAuthorized             = "Authorized"
	ChargeCaptureInitiated       = "CaptureInitiated"
	ChargeCaptured               = "Captured"
	ChargeCanceled               = "Canceled"
	ChargeDeclined               = "Declined"
)

// OutcomeForCharge maps an Amazon Pay charge state to the payment outcome it
// implies. ok is false for a state the service does not know, which must
// never be guessed into an outcome.
func OutcomeForCharge(state string) (o Outcome, ok bool) {
	switch state {
	case ChargeAuthorizationInitiated:
		return Pending, true
	case ChargeAuthorized, ChargeCaptureInitiated, ChargeCaptured:
		return Completed, true
	case ChargeDeclined:
		return Declined, true
	case ChargeCanceled:
		return Canceled, true
	default:
		return "", false
	}
}
