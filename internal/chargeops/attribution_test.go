package chargeops_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/chargeops"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

// TestCompetingCapturesAttributed sends two captures of one 100.00 charge
// at once with different keys and amounts (70.00 and 30.00), round after
// round, both checks slowed so that both see the charge Authorized and
// both captures reach Amazon, some rounds with the answers lost. Amazon
// takes one capture per charge: exactly one call may answer COMPLETED,
// with the amount it asked for, the other FAILED_PRECONDITION
// CHARGE_NOT_CAPTURABLE (or UNKNOWN while its answer is lost, which the
// worker then settles the same way); and what the service records as
// captured equals what Amazon captured.
func TestCompetingCapturesAttributed(t *testing.T) {
	const rounds = 6
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		for round := range rounds {
			done := f.completed(t, "100.00", "Authorize")
			f.control(t, "/simulator/faults", map[string]any{"operation": "GetCharge", "kind": "latency", "latency": "150ms", "count": 2})
			if round%2 == 1 {
				// Both captures lose their answers (the first of them
				// applied), on every attempt of the client.
				f.control(t, "/simulator/faults", map[string]any{"operation": "CaptureCharge", "kind": "lostResponse", "count": 4})
			}
			amounts := []string{"70.00", "30.00"}
			type answer struct {
				res chargeops.Result
				err error
			}
			answers := make([]answer, len(amounts))
			var wg sync.WaitGroup
			for i, amount := range amounts {
				wg.Go(func() {
					res, err := f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: done.ChargeID, Amount: usd(amount), IdempotencyKey: fmt.Sprintf("ship-%d", i)})
					answers[i] = answer{res, err}
				})
			}
			wg.Wait()
			f.clearFaults(t)
			// Settle what was left unknown, as the worker does once
			// it is due.
			for range 3 {
				f.clock.Advance(10 * time.Minute)
				if _, err := f.svc.CheckOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ch, _, err := f.client.GetCharge(ctx, done.ChargeID)
			if err != nil {
				t.Fatal(err)
			}
			if ch.StatusDetails.State != payment.ChargeCaptured || ch.CaptureAmount == nil {
				t.Fatalf("round %d: Amazon's charge is %s, want Captured", round, ch.StatusDetails.State)
			}
			amazonCaptured := ch.CaptureAmount.Amount
			completed := 0
			for i, a := range answers {
				switch {
				case a.err == nil && a.res.Outcome == payment.Completed:
					completed++
					if a.res.Charge.CaptureAmount == nil || a.res.Charge.CaptureAmount.Amount != amounts[i] || amounts[i] != amazonCaptured {
						t.Errorf("round %d: capture of %s answered COMPLETED with %+v; Amazon captured %s", round, amounts[i], a.res.Charge.CaptureAmount, amazonCaptured)
					}
				case a.err == nil && a.res.Outcome == payment.Unknown:
					// Settled by the worker: its record must say the same.
					got, err := f.svc.Get(ctx, chargeops.OperationID(payment.OpCapture, done.ChargeID, fmt.Sprintf("ship-%d", i)))
					if err == nil && got.Outcome == payment.Completed {
						completed++
						if amounts[i] != amazonCaptured {
							t.Errorf("round %d: capture of %s settled COMPLETED; Amazon captured %s", round, amounts[i], amazonCaptured)
						}
					}
				case a.err != nil:
					if reason(a.err) != chargeops.ReasonChargeNotCapturable {
						t.Errorf("round %d: capture of %s: %v; want %s", round, amounts[i], a.err, chargeops.ReasonChargeNotCapturable)
					}
					if e, _ := completion.AsError(a.err); e != nil && e.Kind != completion.KindFailedPrecondition {
						t.Errorf("round %d: capture of %s: kind %v, want failed precondition", round, amounts[i], e.Kind)
					}
				default:
					t.Errorf("round %d: capture of %s answered %s", round, amounts[i], a.res.Outcome)
				}
			}
			if round%2 == 0 && completed != 1 {
				t.Errorf("round %d: %d captures answered COMPLETED, want exactly 1", round, completed)
			}
			if completed > 1 {
				t.Errorf("round %d: %d captures COMPLETED on one charge", round, completed)
			}
			v, err := f.svc.ViewOf(ctx, payment.Payment{ChargePermissionID: done.ChargePermissionID, ChargeID: done.ChargeID,
				ChargeState: payment.ChargeAuthorized, ChargeAmount: usd("100.00")})
			if err != nil {
				t.Fatal(err)
			}
			if v.Captured == nil || v.Captured.Amount != amazonCaptured {
				t.Errorf("round %d: stored captured %v, Amazon captured %s", round, v.Captured, amazonCaptured)
			}
		}
	})
}

func (f *fixture) clearFaults(t *testing.T) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, f.sim.URL+"/simulator/faults", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
}

// TestCaptureRacingCancel sends a capture and a cancellation of one charge
// at once, both checks slowed so that both reach Amazon, some rounds with
// the answers lost: one of them wins at Amazon; the capture never answers
// OUTCOME_CANCELED, the cancellation never OUTCOME_COMPLETED, and the loser
// answers FAILED_PRECONDITION (CHARGE_NOT_CAPTURABLE, CHARGE_NOT_CANCELABLE)
// or, while its answer is lost, UNKNOWN.
func TestCaptureRacingCancel(t *testing.T) {
	const rounds = 6
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		for round := range rounds {
			done := f.completed(t, "40.00", "Authorize")
			f.control(t, "/simulator/faults", map[string]any{"operation": "GetCharge", "kind": "latency", "latency": "150ms", "count": 2})
			if round%2 == 1 {
				f.control(t, "/simulator/faults", map[string]any{"operation": "CaptureCharge", "kind": "lostResponse", "count": 2})
				f.control(t, "/simulator/faults", map[string]any{"operation": "CancelCharge", "kind": "lostResponse", "count": 2})
			}
			var (
				wg                sync.WaitGroup
				capRes, cancelRes chargeops.Result
				capErr, cancelErr error
			)
			wg.Go(func() {
				capRes, capErr = f.svc.Capture(ctx, chargeops.CaptureRequest{ChargeID: done.ChargeID, Amount: usd("40.00"), IdempotencyKey: "ship"})
			})
			wg.Go(func() {
				cancelRes, cancelErr = f.svc.Cancel(ctx, chargeops.CancelRequest{ChargeID: done.ChargeID, Reason: "out of stock"})
			})
			wg.Wait()
			f.clearFaults(t)
			ch, _, err := f.client.GetCharge(ctx, done.ChargeID)
			if err != nil {
				t.Fatal(err)
			}
			state := ch.StatusDetails.State
			switch {
			case capErr == nil && capRes.Outcome != payment.Completed && capRes.Outcome != payment.Unknown:
				t.Errorf("round %d: capture answered %s", round, capRes.Outcome)
			case capErr == nil && capRes.Outcome == payment.Completed && state != payment.ChargeCaptured:
				t.Errorf("round %d: capture answered COMPLETED, Amazon's charge is %s", round, state)
			case capErr != nil && reason(capErr) != chargeops.ReasonChargeNotCapturable:
				t.Errorf("round %d: capture: %v", round, capErr)
			}
			switch {
			case cancelErr == nil && cancelRes.Outcome != payment.Canceled && cancelRes.Outcome != payment.Unknown:
				t.Errorf("round %d: cancel answered %s", round, cancelRes.Outcome)
			case cancelErr == nil && cancelRes.Outcome == payment.Canceled && state != payment.ChargeCanceled:
				t.Errorf("round %d: cancel answered CANCELED, Amazon's charge is %s", round, state)
			case cancelErr != nil && reason(cancelErr) != chargeops.ReasonChargeNotCancelable:
				t.Errorf("round %d: cancel: %v", round, cancelErr)
			}
		}
	})
}
