package e2e_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator/simtest"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// amazonRequests counts the requests made to the simulator's Amazon Pay API
// (its control API aside).
type amazonRequests struct {
	mu    sync.Mutex
	paths []string
}

func (r *amazonRequests) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasPrefix(req.URL.Path, "/simulator/") {
			r.mu.Lock()
			r.paths = append(r.paths, req.Method+" "+req.URL.Path)
			r.mu.Unlock()
		}
		h.ServeHTTP(w, req)
	})
}

func (r *amazonRequests) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.paths)
}

// TestMalformedIDsNeverReachAmazon sends every money operation and refund
// read with identifiers Amazon Pay never issues, and statement texts it
// does not accept: each is refused INVALID_ARGUMENT naming the field, and
// Amazon Pay is not called.
func TestMalformedIDsNeverReachAmazon(t *testing.T) {
	t.Parallel()
	var reqs amazonRequests
	s := simtest.Start(t, simtest.Options{Wrap: reqs.wrap})
	a := &amazonSim{t: t, sim: s.Simulator, URL: s.URL, KeyID: simtest.KeyID, Key: simtest.Key()}
	svc := startService(t, a, serviceOptions{})

	const (
		chargeID     = "S01-5105180-3221187-C056351"
		permissionID = "S01-5105180-3221187"
		refundID     = "S01-5105180-3221187-R022311"
	)
	badIDs := []string{
		"",
		"S01-123",
		strings.ToLower(chargeID),
		chargeID + " ",
		chargeID + "/cancel",
		"../" + chargeID,
		"S01-5105180-3221187-C05635",
		"S01-5105180-3221187-C0563510",
		strings.Repeat("9", 128),
	}
	type call struct {
		name, field string
		do          func(ctx context.Context, c pb.PaymentCompletionServiceClient) error
	}
	var calls []call
	for _, id := range append(slices.Clone(badIDs), permissionID, refundID) {
		calls = append(calls,
			call{"capture " + id, "charge_id", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: id, CaptureAmount: usd("1.00"), IdempotencyKey: "k"})
				return err
			}},
			call{"cancel " + id, "charge_id", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CancelCharge(ctx, &pb.CancelChargeRequest{ChargeId: id})
				return err
			}},
			call{"refund " + id, "charge_id", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: id, RefundAmount: usd("1.00"), IdempotencyKey: "k"})
				return err
			}},
		)
	}
	for _, id := range append(slices.Clone(badIDs), chargeID, refundID) {
		calls = append(calls,
			call{"create charge " + id, "charge_permission_id", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CreateCharge(ctx, &pb.CreateChargeRequest{ChargePermissionId: id, ChargeAmount: usd("1.00"), IdempotencyKey: "k"})
				return err
			}},
			call{"close " + id, "charge_permission_id", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CloseChargePermission(ctx, &pb.CloseChargePermissionRequest{ChargePermissionId: id, ClosureReason: "r"})
				return err
			}},
		)
	}
	for _, id := range append(slices.Clone(badIDs), chargeID, permissionID) {
		calls = append(calls, call{"get refund " + id, "refund_id", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.GetRefund(ctx, &pb.GetRefundRequest{RefundId: id})
			return err
		}})
	}
	for _, text := range []string{"seventeen chars!!", "Café", "line\nbreak", "tab\there", "\x7f"} {
		calls = append(calls,
			call{"capture descriptor " + text, "soft_descriptor", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: chargeID, CaptureAmount: usd("1.00"), IdempotencyKey: "k", SoftDescriptor: text})
				return err
			}},
			call{"refund descriptor " + text, "soft_descriptor", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: chargeID, RefundAmount: usd("1.00"), IdempotencyKey: "k", SoftDescriptor: text})
				return err
			}},
			call{"create charge descriptor " + text, "soft_descriptor", func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
				_, err := c.CreateCharge(ctx, &pb.CreateChargeRequest{ChargePermissionId: permissionID, ChargeAmount: usd("1.00"), IdempotencyKey: "k", CaptureNow: true, SoftDescriptor: text})
				return err
			}},
		)
	}

	for _, c := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := c.do(ctx, svc.Client)
		cancel()
		code, reason, _, fields := errorInfo(t, err)
		if code != codes.InvalidArgument || reason != "INVALID_REQUEST" || !slices.Contains(fields, c.field) {
			t.Errorf("%q: %v %s fields %v (%v); want INVALID_ARGUMENT INVALID_REQUEST naming %s", c.name, code, reason, fields, err, c.field)
		}
	}
	if got := reqs.seen(); len(got) != 0 {
		t.Errorf("%d malformed requests reached Amazon Pay: %v", len(got), got)
	}

	// The count sees what does reach Amazon: a well-formed ID of no refund
	// is asked about (and not found).
	_, err := svc.Client.GetRefund(t.Context(), &pb.GetRefundRequest{RefundId: refundID})
	if code := status.Code(err); code != codes.NotFound {
		t.Errorf("GetRefund(unknown well-formed ID) = %v, want NOT_FOUND", err)
	}
	if got := reqs.seen(); len(got) == 0 {
		t.Error("a well-formed GetRefund reached no Amazon Pay endpoint")
	}
}
