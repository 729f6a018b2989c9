package amazonpay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// errEmptyID is returned when an operation is called without an object ID.
var errEmptyID = errors.New("object ID is empty")

// ErrInvalidRequest wraps every error detected before anything is sent
// (empty ID, malformed amount, invalid idempotency key or header): such a
// call certainly had no effect at Amazon.
var ErrInvalidRequest = errors.New("amazonpay: invalid request")

func invalid(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalidRequest, op, err)
}

// objectPath builds "/<collection>/<escaped id>[/<action>]".
func objectPath(collection, id, action string) (string, error) {
	if id == "" {
		return "", errEmptyID
	}
	p := "/" + collection + "/" + escapeRFC3986(id)
	if action != "" {
		p += "/" + action
	}
	return p, nil
}

// CreateCheckoutSession creates a Checkout Session (POST /checkoutSessions,
// 201). A random idempotency key is sent unless WithIdempotencyKey is given;
// pass a key derived from your own object (IdempotencyKey) if the call may
// be repeated after a crash.
func (c *Client) CreateCheckoutSession(ctx context.Context, req CreateCheckoutSessionRequest, opts ...CallOption) (*CheckoutSession, CallInfo, error) {
	var out CheckoutSession
	info, err := c.do(ctx, call{
		op: "CreateCheckoutSession", method: http.MethodPost, resource: "/checkoutSessions",
		body: req, key: randomIdempotencyKey(),
	}, &out, opts)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}

// GetCheckoutSession returns a Checkout Session
// (GET /checkoutSessions/{id}).
func (c *Client) GetCheckoutSession(ctx context.Context, checkoutSessionID string, opts ...CallOption) (*CheckoutSession, CallInfo, error) {
	return getObject[CheckoutSession](ctx, c, "GetCheckoutSession", "checkoutSessions", checkoutSessionID, opts)
}

// UpdateCheckoutSession changes the fields set in req
// (PATCH /checkoutSessions/{id}).
func (c *Client) UpdateCheckoutSession(ctx context.Context, checkoutSessionID string, req UpdateCheckoutSessionRequest, opts ...CallOption) (*CheckoutSession, CallInfo, error) {
	const op = "UpdateCheckoutSession"
	resource, err := objectPath("checkoutSessions", checkoutSessionID, "")
	if err != nil {
		return nil, CallInfo{}, invalid(op, err)
	}
	var out CheckoutSession
	info, err := c.do(ctx, call{op: op, method: http.MethodPatch, resource: resource, body: req}, &out, opts)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}

// CompleteCheckoutSession confirms the amount and completes the Checkout
// Session (POST /checkoutSessions/{id}/complete). Both 200 (processed) and
// 202 (authorization pending: the Charge is AuthorizationInitiated) are
// successes; CallInfo.StatusCode tells which.
//
// The default idempotency key is IdempotencyKey("complete",
// checkoutSessionID), so every retry of the completion of one session, in
// this call or a later one, carries the same key. Amounts are checked to be
// decimal strings before anything is sent.
//
// A repeated completion of an already completed session fails with
// CodeInvalidCheckoutSessionStatus; callers should then GetCheckoutSession
// and treat Completed as success.
func (c *Client) CompleteCheckoutSession(ctx context.Context, checkoutSessionID string, req CompleteCheckoutSessionRequest, opts ...CallOption) (*CheckoutSession, CallInfo, error) {
	p, err := c.PrepareCompleteCheckoutSession(checkoutSessionID, req, opts...)
	if err != nil {
		return nil, CallInfo{}, err
	}
	return p.Send(ctx)
}

// PreparedCompleteCheckoutSession is a Complete Checkout Session call built
// and signed ahead of sending. Signing (RSA) is most of a call's cost;
// preparing lets it overlap other work, such as durably recording the
// attempt. Send it within a minute (an older signature is made again) and
// at most once; it is not safe for concurrent use.
type PreparedCompleteCheckoutSession struct {
	c *Client
	p *preparedCall
}

// PrepareCompleteCheckoutSession validates, encodes and signs a Complete
// Checkout Session call without sending it. It fails only for invalid input
// (ErrInvalidRequest), as CompleteCheckoutSession would; a signing failure
// is reported by Send.
func (c *Client) PrepareCompleteCheckoutSession(checkoutSessionID string, req CompleteCheckoutSessionRequest, opts ...CallOption) (*PreparedCompleteCheckoutSession, error) {
	const op = "CompleteCheckoutSession"
	resource, err := objectPath("checkoutSessions", checkoutSessionID, "complete")
	if err != nil {
		return nil, invalid(op, err)
	}
	if req.ChargeAmount != (Price{}) {
		if err := req.ChargeAmount.Validate(); err != nil {
			return nil, invalid(op, fmt.Errorf("chargeAmount: %w", err))
		}
	}
	if req.TotalOrderAmount != nil {
		if err := req.TotalOrderAmount.Validate(); err != nil {
			return nil, invalid(op, fmt.Errorf("totalOrderAmount: %w", err))
		}
	}
	p, err := c.prepare(call{
		op: op, method: http.MethodPost, resource: resource, body: req,
		key: IdempotencyKey("complete", checkoutSessionID),
	}, opts)
	if err != nil {
		return nil, err
	}
	// A failure here leaves the call unsigned; Send signs it again and
	// reports the failure the way every call does.
	_, _ = c.signedHeader(p)
	return &PreparedCompleteCheckoutSession{c: c, p: p}, nil
}

// Send sends the prepared call, with the client's retries, and returns the
// completed session. CallInfo.Latency counts from Send, not from Prepare.
func (p *PreparedCompleteCheckoutSession) Send(ctx context.Context) (*CheckoutSession, CallInfo, error) {
	var out CheckoutSession
	info, err := p.c.send(ctx, p.p, &out)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}

// GetCharge returns a Charge (GET /charges/{id}).
func (c *Client) GetCharge(ctx context.Context, chargeID string, opts ...CallOption) (*Charge, CallInfo, error) {
	return getObject[Charge](ctx, c, "GetCharge", "charges", chargeID, opts)
}

// GetChargePermission returns a Charge Permission
// (GET /chargePermissions/{id}).
func (c *Client) GetChargePermission(ctx context.Context, chargePermissionID string, opts ...CallOption) (*ChargePermission, CallInfo, error) {
	return getObject[ChargePermission](ctx, c, "GetChargePermission", "chargePermissions", chargePermissionID, opts)
}

// CaptureCharge captures an Authorized Charge (POST /charges/{id}/capture).
// The default idempotency key is IdempotencyKey("capture", chargeID): a
// Charge is captured at most once.
func (c *Client) CaptureCharge(ctx context.Context, chargeID string, req CaptureChargeRequest, opts ...CallOption) (*Charge, CallInfo, error) {
	const op = "CaptureCharge"
	resource, err := objectPath("charges", chargeID, "capture")
	if err != nil {
		return nil, CallInfo{}, invalid(op, err)
	}
	if err := req.CaptureAmount.Validate(); err != nil {
		return nil, CallInfo{}, invalid(op, fmt.Errorf("captureAmount: %w", err))
	}
	var out Charge
	info, err := c.do(ctx, call{
		op: op, method: http.MethodPost, resource: resource, body: req,
		key: IdempotencyKey("capture", chargeID),
	}, &out, opts)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}

// CancelCharge cancels a Charge that is not yet captured
// (DELETE /charges/{id}/cancel, with a JSON body).
func (c *Client) CancelCharge(ctx context.Context, chargeID string, req CancelChargeRequest, opts ...CallOption) (*Charge, CallInfo, error) {
	const op = "CancelCharge"
	resource, err := objectPath("charges", chargeID, "cancel")
	if err != nil {
		return nil, CallInfo{}, invalid(op, err)
	}
	var out Charge
	info, err := c.do(ctx, call{op: op, method: http.MethodDelete, resource: resource, body: req}, &out, opts)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}

func getObject[T any](ctx context.Context, c *Client, op, collection, id string, opts []CallOption) (*T, CallInfo, error) {
	resource, err := objectPath(collection, id, "")
	if err != nil {
		return nil, CallInfo{}, invalid(op, err)
	}
	var out T
	info, err := c.do(ctx, call{op: op, method: http.MethodGet, resource: resource}, &out, opts)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}

// CreateRefund refunds (part of) a Captured charge (POST /refunds, 201, the
// refund RefundInitiated). Amazon Pay requires an idempotency key; the
// default is IdempotencyKey("refund", chargeID+" "+amount), so give
// WithIdempotencyKey a key derived from your own refund (a credit memo) when
// one charge may be refunded the same amount twice.
func (c *Client) CreateRefund(ctx context.Context, req CreateRefundRequest, opts ...CallOption) (*Refund, CallInfo, error) {
	const op = "CreateRefund"
	if req.ChargeID == "" {
		return nil, CallInfo{}, invalid(op, fmt.Errorf("chargeId: %w", errEmptyID))
	}
	if err := req.RefundAmount.Validate(); err != nil {
		return nil, CallInfo{}, invalid(op, fmt.Errorf("refundAmount: %w", err))
	}
	var out Refund
	info, err := c.do(ctx, call{
		op: op, method: http.MethodPost, resource: "/refunds", body: req,
		key: IdempotencyKey("refund", req.ChargeID+" "+req.RefundAmount.String()),
	}, &out, opts)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}

// GetRefund returns a Refund (GET /refunds/{id}).
func (c *Client) GetRefund(ctx context.Context, refundID string, opts ...CallOption) (*Refund, CallInfo, error) {
	return getObject[Refund](ctx, c, "GetRefund", "refunds", refundID, opts)
}

// CreateCharge authorizes a new charge on a Chargeable charge permission
// (POST /charges, 201), and captures it at once with CaptureNow: for
// Confirm checkouts, split shipments and re-authorizing. Amazon Pay
// requires an idempotency key; pass one derived from your own charge with
// WithIdempotencyKey (the default derives it from the permission and the
// amount). A declined authorization answers 422 with the decline
// (SoftDeclined, HardDeclined, ...) as the reason code and no charge ID.
func (c *Client) CreateCharge(ctx context.Context, req CreateChargeRequest, opts ...CallOption) (*Charge, CallInfo, error) {
	const op = "CreateCharge"
	if req.ChargePermissionID == "" {
		return nil, CallInfo{}, invalid(op, fmt.Errorf("chargePermissionId: %w", errEmptyID))
	}
	if err := req.ChargeAmount.Validate(); err != nil {
		return nil, CallInfo{}, invalid(op, fmt.Errorf("chargeAmount: %w", err))
	}
	var out Charge
	info, err := c.do(ctx, call{
		op: op, method: http.MethodPost, resource: "/charges", body: req,
		key: IdempotencyKey("charge", req.ChargePermissionID+" "+req.ChargeAmount.String()),
	}, &out, opts)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}

// CloseChargePermission closes a charge permission
// (DELETE /chargePermissions/{id}/close, with a JSON body): no new charge
// can be created on it; with CancelPendingCharges its open authorizations
// are canceled too. Closing a Closed permission fails with
// InvalidChargePermissionStatus.
func (c *Client) CloseChargePermission(ctx context.Context, chargePermissionID string, req CloseChargePermissionRequest, opts ...CallOption) (*ChargePermission, CallInfo, error) {
	const op = "CloseChargePermission"
	resource, err := objectPath("chargePermissions", chargePermissionID, "close")
	if err != nil {
		return nil, CallInfo{}, invalid(op, err)
	}
	if req.ClosureReason == "" {
		return nil, CallInfo{}, invalid(op, errors.New("closureReason is required"))
	}
	var out ChargePermission
	info, err := c.do(ctx, call{op: op, method: http.MethodDelete, resource: resource, body: req}, &out, opts)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}

// UpdateChargePermission changes the fields set in req
// (PATCH /chargePermissions/{id}), for example the merchantReferenceId
// under which Seller Central and Amazon's reports show the order.
func (c *Client) UpdateChargePermission(ctx context.Context, chargePermissionID string, req UpdateChargePermissionRequest, opts ...CallOption) (*ChargePermission, CallInfo, error) {
	const op = "UpdateChargePermission"
	resource, err := objectPath("chargePermissions", chargePermissionID, "")
	if err != nil {
		return nil, CallInfo{}, invalid(op, err)
	}
	var out ChargePermission
	info, err := c.do(ctx, call{op: op, method: http.MethodPatch, resource: resource, body: req}, &out, opts)
	if err != nil {
		return nil, info, err
	}
	return &out, info, nil
}
