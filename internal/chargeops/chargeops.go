// Package chargeops carries an order on after its completion: it captures
// and cancels charges at Amazon Pay with the guarantees of the completion
// (package completion), reusing its error kinds and the shared check
// mechanisms (package checks):
//   - the operation is recorded durably, under an ID derived from the
//     operation, the object and the caller's idempotency key, before Amazon
//     Pay is called; the store decides which of concurrent duplicates calls
//     Amazon, the others wait for its result; a repeat returns the stored
//     result without calling Amazon again; the same key with other
//     arguments is refused;
//   - Amazon's rules are checked on a live read of the charge after the
//     store decided between duplicates (only the call that recorded the
//     operation reads and sends) and before anything is sent; a failed
//     check withdraws the operation;
//   - a failed change follows amazonpay.Failure.AfterChange/AfterReadBack:
//     certainly not applied: withdrawn, the caller retries; may be applied:
//     the charge is read back; unreadable: recorded as unknown and settled
//     by the worker, which resends with the same Amazon idempotency key
//     only when the charge shows the change not applied;
//   - an asynchronous capture (CaptureInitiated) is polled by the worker
//     until Amazon answers Captured or Declined; nothing is guessed.
package chargeops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	"github.com/paymentcompletion/paymentcompletion/internal/checks"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/tracelink"
)

// Amazon is what the operations need from Amazon Pay; its errors are read
// with amazonpay.Classify.
type Amazon interface {
	GetCharge(ctx context.Context, chargeID string, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error)
	CaptureCharge(ctx context.Context, chargeID string, req amazonpay.CaptureChargeRequest, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error)
	CancelCharge(ctx context.Context, chargeID string, req amazonpay.CancelChargeRequest, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error)
	GetChargePermission(ctx context.Context, id string, opts ...amazonpay.CallOption) (*amazonpay.ChargePermission, amazonpay.CallInfo, error)
	CloseChargePermission(ctx context.Context, id string, req amazonpay.CloseChargePermissionRequest, opts ...amazonpay.CallOption) (*amazonpay.ChargePermission, amazonpay.CallInfo, error)
	UpdateChargePermission(ctx context.Context, id string, req amazonpay.UpdateChargePermissionRequest, opts ...amazonpay.CallOption) (*amazonpay.ChargePermission, amazonpay.CallInfo, error)
	CreateCharge(ctx context.Context, req amazonpay.CreateChargeRequest, opts ...amazonpay.CallOption) (*amazonpay.Charge, amazonpay.CallInfo, error)
	CreateRefund(ctx context.Context, req amazonpay.CreateRefundRequest, opts ...amazonpay.CallOption) (*amazonpay.Refund, amazonpay.CallInfo, error)
	GetRefund(ctx context.Context, refundID string, opts ...amazonpay.CallOption) (*amazonpay.Refund, amazonpay.CallInfo, error)
}

// Error reasons of the operations, beyond completion's (the proto's
// ErrorReason names without the prefix).
const (
	ReasonIdempotencyKeyReused  = completion.ReasonIdempotencyKeyReused
	ReasonChargeNotCapturable   = completion.ReasonChargeNotCapturable
	ReasonCaptureAmountExceeded = completion.ReasonCaptureAmountExceeded
	ReasonChargeNotCancelable   = completion.ReasonChargeNotCancelable
)

// Reasons are the reasons of this package's errors that completion.Reasons
// does not list.
var Reasons = []string{ReasonIdempotencyKeyReused, ReasonChargeNotCapturable, ReasonCaptureAmountExceeded, ReasonChargeNotCancelable,
	ReasonChargeNotRefundable, ReasonRefundAmountExceeded, ReasonRefundNotFound,
	ReasonChargePermissionNotChargeable, ReasonChargeAmountExceeded, ReasonChargeCountExceeded, ReasonChargePermissionClosed}

// Defaults of Config.
const (
	DefaultLease           = 2 * time.Minute
	DefaultUpstreamTimeout = 45 * time.Second
	DefaultFirstDelay      = 2 * time.Second
	DefaultMaxInterval     = 5 * time.Minute
	DefaultPendingFirst    = checks.DefaultFirstPoll
	DefaultPendingMax      = 30 * time.Minute
)

// UnknownBudget is how long an operation's outcome may stay unknown
// before an operator is told (the metric
// paymentcompletion_operations_unknown_past_budget): Amazon Pay keeps an
// idempotency key for 24 hours, so the worker's resends with the same key
// are safe for that long only; a refund or new charge still unknown then
// is no longer sent again (see check).
const UnknownBudget = 24 * time.Hour

// Config tunes the operations; zero values take the defaults.
type Config struct {
	// Owner names this replica in leases.
	Owner string
	// Lease is how long an operation in flight (or claimed by the worker)
	// stays with its live owner between extensions; an owner that died
	// loses it after this.
	Lease time.Duration
	// UpstreamTimeout bounds the Amazon Pay work of one operation or one
	// check.
	UpstreamTimeout time.Duration
	// FirstDelay and MaxInterval: the backoff of unknown operations.
	FirstDelay, MaxInterval time.Duration
	// PendingFirst and PendingMax: the backoff of polls of an asynchronous
	// capture.
	PendingFirst, PendingMax time.Duration
	// Idle is how often the worker looks for due work when it found none
	// (default 1s); WaitRecheck how often a duplicate waiting for an
	// operation in flight re-reads it (default 100ms).
	Idle, WaitRecheck time.Duration
	// SetMerchantReference: after a completion, set the order ID as the
	// charge permission's merchantReferenceId (see Follow).
	SetMerchantReference bool
	// AutoCapture: after a completion, capture an Authorized charge in
	// full (see Follow).
	AutoCapture bool
	Now         func() time.Time
	Logger      *slog.Logger
	// Metrics, when set, counts the outcomes recorded.
	Metrics Metrics
	// TracerProvider traces each check of the worker as a trace of its
	// own linked to the call the operation comes from; nil: the global
	// one.
	TracerProvider trace.TracerProvider
}

// Metrics counts what is recorded of operations; metrics.Metrics is one.
type Metrics interface {
	// OperationRecorded counts an operation of kind reaching outcome:
	// "unknown", "pending", "completed", "declined" or "canceled" (each
	// once per operation at most, as states only move forward), or
	// "withdrawn" (recorded, then removed: Amazon Pay refused it or
	// certainly did not apply it).
	OperationRecorded(kind payment.OpKind, outcome string)
}

// OutcomeWithdrawn is the outcome counted for a withdrawn operation.
const OutcomeWithdrawn = "withdrawn"

func (s *Service) recorded(kind payment.OpKind, outcome string) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.OperationRecorded(kind, outcome)
	}
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Lease, DefaultLease)
	def(&c.UpstreamTimeout, DefaultUpstreamTimeout)
	def(&c.FirstDelay, DefaultFirstDelay)
	def(&c.MaxInterval, DefaultMaxInterval)
	def(&c.PendingFirst, DefaultPendingFirst)
	def(&c.PendingMax, DefaultPendingMax)
	def(&c.Idle, time.Second)
	def(&c.WaitRecheck, 100*time.Millisecond)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Owner == "" {
		c.Owner = "replica"
	}
}

// Service runs the operations.
type Service struct {
	st  store.Operations
	az  Amazon
	cfg Config
	log *slog.Logger
	// wake holds one pending Wake.
	wake chan struct{}
}

// New returns a Service.
func New(st store.Operations, az Amazon, cfg Config) *Service {
	cfg.defaults()
	return &Service{st: st, az: az, cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}
}

// Wake makes Run look for due operations at once (a notification made
// one due) rather than after its idle wait. It never blocks.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// CaptureRequest is one CaptureCharge call.
type CaptureRequest struct {
	ChargeID       string
	Amount         payment.Money
	IdempotencyKey string
	SoftDescriptor string
}

// CancelRequest is one CancelCharge call.
type CancelRequest struct {
	ChargeID string
	Reason   string
}

// Result is an operation's recorded result.
type Result struct {
	// Charge is Amazon Pay's charge as answered or read back (captures and
	// cancellations); nil while the outcome is unknown.
	Charge *amazonpay.Charge
	// Refund is Amazon Pay's refund (refunds); nil while unknown.
	Refund *amazonpay.Refund
	// ChargePermission is the closed permission (closures), without the
	// buyer's details; nil while unknown.
	ChargePermission *amazonpay.ChargePermission
	// Outcome: Completed (captured, refunded), Pending (capture or refund
	// in progress), Declined, Canceled, or Unknown.
	Outcome payment.Outcome
}

// amountArgs (capture, refund) and cancelArgs are the stored form of the arguments (the
// Operation's Request): compared on repeats, and read by the worker to
// send again.
type amountArgs struct {
	Amount         string `json:"amount"`
	Currency       string `json:"currency"`
	SoftDescriptor string `json:"softDescriptor,omitempty"`
}

type cancelArgs struct {
	Reason string `json:"reason,omitempty"`
}

// OperationID is the ID of an operation and the x-amz-pay-idempotency-key
// it is sent with (32 characters, within Amazon's limit): derived from the
// operation, its object and the caller's key, so keys are scoped to both.
func OperationID(kind payment.OpKind, objectID, key string) string {
	return amazonpay.IdempotencyKey(string(kind), objectID+"\x00"+key)
}

func invalid(field, msg string) error {
	return &completion.Error{Kind: completion.KindInvalid, Reason: completion.ReasonInvalidRequest, Message: field + ": " + msg, Field: field}
}

func validKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// Capture captures a charge exactly once per idempotency key.
func (s *Service) Capture(ctx context.Context, r CaptureRequest) (Result, error) {
	op, err := moneyOperation(payment.OpCapture, "capture_amount", r.ChargeID, r.IdempotencyKey, r.SoftDescriptor, r.Amount)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, op, func(ch *amazonpay.Charge) error { return capturable(ch, r.Amount) })
}

// moneyOperation checks a request that moves an amount on a charge
// (capture, refund) and builds its operation; nothing is recorded or sent
// when a field is invalid.
func moneyOperation(kind payment.OpKind, amountField, chargeID, key, softDescriptor string, amount payment.Money) (payment.Operation, error) {
	switch {
	case chargeID == "":
		return payment.Operation{}, invalid("charge_id", "required")
	case !validKey(key):
		return payment.Operation{}, invalid("idempotency_key", "1 to 64 printable ASCII characters required")
	case len(softDescriptor) > 16:
		return payment.Operation{}, invalid("soft_descriptor", "at most 16 characters")
	}
	if err := amount.Validate(); err != nil {
		return payment.Operation{}, invalid(amountField, err.Error())
	}
	args, _ := json.Marshal(amountArgs{Amount: amount.Amount, Currency: amount.CurrencyCode, SoftDescriptor: softDescriptor})
	return payment.Operation{
		ID: OperationID(kind, chargeID, key), Kind: kind,
		ObjectID: chargeID, IdempotencyKey: key, Request: string(args),
	}, nil
}

// capturable applies Amazon's capture rules to the charge as read.
func capturable(ch *amazonpay.Charge, amount payment.Money) error {
	state := ch.StatusDetails.State
	if state != payment.ChargeAuthorized {
		return completion.NewError(completion.KindFailedPrecondition, ReasonChargeNotCapturable,
			"the charge is "+state+"; only an Authorized charge can be captured; nothing was sent", nil,
			map[string]string{"charge_state": state})
	}
	if ch.ChargeAmount == nil {
		return nil // Amazon decides
	}
	authorized := payment.Money{Amount: ch.ChargeAmount.Amount, CurrencyCode: ch.ChargeAmount.CurrencyCode}
	if authorized.CurrencyCode != amount.CurrencyCode {
		return completion.NewError(completion.KindFailedPrecondition, completion.ReasonCurrencyMismatch,
			"the capture's currency differs from the charge's ("+authorized.CurrencyCode+"); nothing was sent", nil,
			map[string]string{"charge_currency": authorized.CurrencyCode})
	}
	if c, ok := payment.Compare(amount, authorized); ok && c > 0 {
		return completion.NewError(completion.KindFailedPrecondition, ReasonCaptureAmountExceeded,
			"the capture amount is above the authorized "+authorized.Amount+" "+authorized.CurrencyCode+"; nothing was sent", nil,
			map[string]string{"authorized_amount": authorized.Amount})
	}
	return nil
}

// Cancel cancels a charge once; repeats return the recorded cancellation.
func (s *Service) Cancel(ctx context.Context, r CancelRequest) (Result, error) {
	switch {
	case r.ChargeID == "":
		return Result{}, invalid("charge_id", "required")
	case len(r.Reason) > 64:
		return Result{}, invalid("cancellation_reason", "at most 64 characters")
	}
	args, _ := json.Marshal(cancelArgs{Reason: r.Reason})
	op := payment.Operation{
		ID: OperationID(payment.OpCancel, r.ChargeID, ""), Kind: payment.OpCancel,
		ObjectID: r.ChargeID, Request: string(args),
	}
	return s.run(ctx, op, func(ch *amazonpay.Charge) error {
		switch st := ch.StatusDetails.State; st {
		case payment.ChargeAuthorized, payment.ChargeAuthorizationInitiated:
			return nil
		default:
			return completion.NewError(completion.KindFailedPrecondition, ReasonChargeNotCancelable,
				"the charge is "+st+"; only an Authorized or AuthorizationInitiated charge can be canceled; nothing was sent", nil,
				map[string]string{"charge_state": st})
		}
	})
}

// run answers op from the store if it is recorded, else records op,
// checks the live charge with precheck and calls Amazon Pay.
func (s *Service) run(ctx context.Context, op payment.Operation, precheck func(*amazonpay.Charge) error) (Result, error) {
	return s.runOn(ctx, op, func(ctx context.Context) (string, error) {
		ch, _, err := s.az.GetCharge(ctx, op.ObjectID)
		if err != nil {
			return "", readError(err)
		}
		return ch.ChargePermissionID, precheck(ch)
	})
}

// runOn answers op from the store if it is recorded, else records it and
// then checks Amazon's rules with check (which returns the charge
// permission the operation belongs to) and calls Amazon Pay. The database
// decides first: of concurrent duplicates only the one whose record was
// created reads Amazon and sends; the others wait for its answer, so none
// of them judges the charge after a twin changed it.
func (s *Service) runOn(ctx context.Context, op payment.Operation, check func(context.Context) (string, error)) (Result, error) {
	owner := checks.Owner(s.cfg.Owner, "ops")
	for {
		stored, err := s.st.GetOperation(ctx, op.ID)
		switch {
		case err == nil:
			res, err := s.existing(ctx, stored, op)
			if errors.Is(err, store.ErrNotFound) {
				continue // withdrawn meanwhile: ask ourselves
			}
			return res, err
		case !errors.Is(err, store.ErrNotFound):
			return Result{}, storeError(err)
		}
		now := s.cfg.Now().UTC()
		op.TraceParent = tracelink.Parent(ctx)
		op.State = payment.OpSending
		op.CreateTime, op.UpdateTime, op.NextCheckTime = now, now, now.Add(s.cfg.Lease)
		stored, created, err := s.st.CreateOperation(ctx, op, owner)
		if err != nil {
			return Result{}, storeError(err)
		}
		if !created {
			res, err := s.existing(ctx, stored, op)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return res, err
		}
		s.log.DebugContext(ctx, "operation recorded", "kind", string(op.Kind), "object_id", op.ObjectID, "operation_id", op.ID)
		// Recorded: the work must finish and be recorded even if the
		// caller goes away.
		wctx := context.WithoutCancel(ctx)
		stop := checks.Keep(wctx, extender{s.st}, op.ID, owner, s.cfg.Lease, s.cfg.Now, s.log)
		uctx, cancel := context.WithTimeout(wctx, s.cfg.UpstreamTimeout)
		res, err := s.checkAndSend(uctx, stored, owner, check)
		cancel()
		stop()
		return res, err
	}
}

// checkAndSend runs the check of op, recorded and leased to owner, and
// sends it if the check passes; if it does not, or the charge permission
// it learned cannot be recorded, op is withdrawn (nothing was sent) and
// the waiting duplicates ask again.
func (s *Service) checkAndSend(ctx context.Context, op payment.Operation, owner string, check func(context.Context) (string, error)) (Result, error) {
	cpid, err := check(ctx)
	if err == nil && cpid != "" {
		if err = s.st.BindOperation(ctx, op.ID, owner, cpid); err != nil {
			err = storeError(err)
		}
	}
	if err != nil {
		if derr := s.st.DeleteOperation(ctx, op.ID, owner); derr != nil {
			s.log.WarnContext(ctx, "could not withdraw operation", "operation_id", op.ID, "error", derr.Error())
		}
		return Result{}, err
	}
	op.ChargePermissionID = cpid
	return s.send(ctx, op, owner, false)
}

// existing answers a call whose operation is already recorded.
func (s *Service) existing(ctx context.Context, stored, asked payment.Operation) (Result, error) {
	if stored.Kind != payment.OpCancel && stored.Kind != payment.OpClose && stored.Request != asked.Request {
		return Result{}, completion.NewError(completion.KindFailedPrecondition, ReasonIdempotencyKeyReused,
			"the idempotency key was already used for this "+string(stored.Kind)+" with other arguments; nothing was changed", nil, nil)
	}
	if e, failed := failureOf(stored); failed {
		return Result{}, e
	}
	if stored.State != payment.OpSending {
		return resultOf(stored), nil
	}
	// In flight in another call: wait for its result, or answer unknown
	// shortly before the caller's deadline.
	wctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, dl.Add(-300*time.Millisecond))
		defer cancel()
	}
	t := time.NewTicker(s.cfg.WaitRecheck)
	defer t.Stop()
	for {
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return Result{}, ctx.Err()
			}
			return Result{Outcome: payment.Unknown}, nil
		case <-t.C:
		}
		cur, err := s.st.GetOperation(wctx, stored.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return Result{}, err
		case err != nil:
			continue // the store may come back before the deadline
		case cur.State != payment.OpSending:
			if e, failed := failureOf(cur); failed {
				return Result{}, e
			}
			return resultOf(cur), nil
		}
	}
}

// resultOf reads a stored operation.
func resultOf(op payment.Operation) Result {
	if op.State == payment.OpSending || op.State == payment.OpUnknown || len(op.Result) == 0 {
		return Result{Outcome: payment.Unknown}
	}
	if _, failed := failureOf(op); failed {
		return Result{Outcome: payment.Unknown} // answered as its error (failureOf)
	}
	if op.Kind == payment.OpClose || op.Kind == payment.OpReference {
		var cp amazonpay.ChargePermission
		if err := json.Unmarshal(op.Result, &cp); err != nil {
			return Result{Outcome: payment.Unknown}
		}
		return Result{ChargePermission: &cp, Outcome: payment.Completed}
	}
	if op.Kind == payment.OpRefund {
		var rf amazonpay.Refund
		if err := json.Unmarshal(op.Result, &rf); err != nil {
			return Result{Outcome: payment.Unknown}
		}
		return Result{Refund: &rf, Outcome: refundOutcome(rf.StatusDetails.State)}
	}
	var ch amazonpay.Charge
	if err := json.Unmarshal(op.Result, &ch); err != nil {
		return Result{Outcome: payment.Unknown}
	}
	return Result{Charge: &ch, Outcome: chargeOutcome(op.Kind, ch.StatusDetails.State)}
}

// send makes the operation's call for op, leased to owner, and records
// what Amazon's answer means. check: the call is a check's (the worker's).
func (s *Service) send(ctx context.Context, op payment.Operation, owner string, check bool) (Result, error) {
	var (
		ch   *amazonpay.Charge
		info amazonpay.CallInfo
		err  error
	)
	switch op.Kind {
	case payment.OpCapture:
		var a amountArgs
		if err := json.Unmarshal([]byte(op.Request), &a); err != nil {
			return Result{}, fmt.Errorf("chargeops: stored capture arguments: %w", err)
		}
		ch, info, err = s.az.CaptureCharge(ctx, op.ObjectID, amazonpay.CaptureChargeRequest{
			CaptureAmount:  amazonpay.Price{Amount: a.Amount, CurrencyCode: a.Currency},
			SoftDescriptor: a.SoftDescriptor,
		}, amazonpay.WithIdempotencyKey(op.ID))
	case payment.OpCancel:
		var a cancelArgs
		if err := json.Unmarshal([]byte(op.Request), &a); err != nil {
			return Result{}, fmt.Errorf("chargeops: stored cancel arguments: %w", err)
		}
		ch, info, err = s.az.CancelCharge(ctx, op.ObjectID, amazonpay.CancelChargeRequest{CancellationReason: a.Reason})
	case payment.OpRefund:
		return s.sendRefund(ctx, op, owner, check, false)
	case payment.OpCharge:
		return s.sendCharge(ctx, op, owner, check, false)
	case payment.OpClose:
		return s.sendClose(ctx, op, owner, check)
	default:
		return Result{}, fmt.Errorf("chargeops: unknown operation kind %q", op.Kind)
	}
	s.log.InfoContext(ctx, "amazon pay "+string(op.Kind), "object_id", op.ObjectID, "operation_id", op.ID,
		"status", info.StatusCode, "amazon_request_id", info.RequestID, "attempts", info.Attempts, "error", errString(err))
	if err == nil {
		return s.record(ctx, op, ch, check)
	}
	f := amazonpay.Classify(err)
	call := completion.CallCapture
	if op.Kind == payment.OpCancel {
		call = completion.CallCancel
	}
	if d := completion.AmazonFailure(call, f, err); d.Step != completion.StepReadBack {
		return s.withdraw(ctx, op, owner, d.Err)
	}
	// Applied or not, and by whom: the charge tells (readBack).
	return s.readBack(ctx, op, owner, check, err, f, false)
}

// unavailable is the answer to a change that a read-back showed not
// applied after a throttled answer: retry the same call.
func unavailable(cause error, f amazonpay.Failure) *completion.Error {
	if f.Class == amazonpay.ClassThrottled || f.Class == amazonpay.ClassNotSent {
		return completion.AmazonFailure(completion.CallCapture, f, cause).Err
	}
	return completion.NewError(completion.KindUnavailable, completion.ReasonAmazonPayUnavailable,
		"Amazon Pay is throttling the service (or unavailable) and applied nothing; nothing was recorded, retry the same call after the RetryInfo delay",
		cause, map[string]string{"amazon_reason_code": f.ReasonCode})
}

// attribution is what a charge read back shows about an operation.
type attribution int

const (
	// notApplied: the charge still waits for the operation.
	notApplied attribution = iota
	// appliedByOp: the charge shows the operation's own effect.
	appliedByOp
	// takenByOther: the charge shows another operation's effect (another
	// capture, a closure's or Amazon's cancellation) or a state that can
	// no longer take the operation: it was not applied and never will be.
	takenByOther
	// undecided: the charge moved on, and what it shows does not say by
	// which operation (a capture of the same amount, one in progress, or
	// one declined): only Amazon's answer to the operation's own key can.
	undecided
)

// attribute reads the charge as read back for op. A capture is its own
// only by Amazon's answer to its idempotency key (Amazon keeps one answer
// per key and repeats it), since a charge does not show whose capture it
// took (one per charge); a capture of another amount is certainly not
// this one. A cancellation has no key, but the service makes at most one
// per charge (its ID is the charge's), so a charge canceled by the
// merchant is its; one canceled by a closure or an expiry is not.
func attribute(op payment.Operation, ch *amazonpay.Charge) attribution {
	st := ch.StatusDetails.State
	switch op.Kind {
	case payment.OpCapture:
		switch st {
		case payment.ChargeAuthorized:
			return notApplied
		case payment.ChargeCaptured, payment.ChargeCaptureInitiated, payment.ChargeDeclined:
			var a amountArgs
			if ch.CaptureAmount != nil && json.Unmarshal([]byte(op.Request), &a) == nil {
				asked := payment.Money{Amount: a.Amount, CurrencyCode: a.Currency}
				if c, ok := payment.Compare(money(ch.CaptureAmount), asked); !ok || c != 0 {
					return takenByOther
				}
			}
			return undecided
		}
		return takenByOther
	case payment.OpCancel:
		switch st {
		case payment.ChargeAuthorized, payment.ChargeAuthorizationInitiated:
			return notApplied
		case payment.ChargeCanceled:
			if ch.StatusDetails.ReasonCode == reasonMerchantCanceled {
				return appliedByOp
			}
		}
		return takenByOther
	}
	return undecided
}

// reasonMerchantCanceled is the reason code of a charge canceled by Cancel
// Charge (a closure's cancellations carry ChargePermissionCanceled, an
// expiry's ExpiredUnused).
const reasonMerchantCanceled = "MerchantCanceled"

// readBack reads the charge after a failed (or lost) call and records
// what it shows. resend: the charge still waiting for the change may be
// sent again (the worker settling an operation, with the same key).
func (s *Service) readBack(ctx context.Context, op payment.Operation, owner string, check bool, cause error, f amazonpay.Failure, resend bool) (Result, error) {
	ch, info, err := s.az.GetCharge(ctx, op.ObjectID)
	if err != nil {
		s.log.WarnContext(ctx, "charge unreadable after an operation; outcome unknown", "operation_id", op.ID,
			"amazon_request_id", info.RequestID, "error", err.Error(), "cause", errString(cause))
		return s.markUnknown(ctx, op, owner, max(completion.RetryDelay(err), completion.RetryDelay(cause)))
	}
	a := attribute(op, ch)
	if a == undecided && f.Class == amazonpay.ClassState {
		// Amazon refused this operation's own key: whatever the charge
		// shows is another operation's.
		a = takenByOther
	}
	switch a {
	case appliedByOp:
		return s.record(ctx, op, ch, check)
	case notApplied:
		if resend {
			return s.send(ctx, op, owner, check)
		}
		if f.Class == amazonpay.ClassState {
			// Amazon refused the change for a state the charge no longer
			// shows; look again shortly.
			return s.markUnknown(ctx, op, owner, 0)
		}
		if cause != nil && f.AfterReadBack(amazonpay.ReadBackNotApplied) == amazonpay.StepNotApplied {
			return s.withdraw(ctx, op, owner, unavailable(cause, f))
		}
		return s.markUnknown(ctx, op, owner, completion.RetryDelay(cause))
	case undecided:
		return s.proveCapture(ctx, op, owner, check, ch)
	default:
		return s.withdraw(ctx, op, owner, notTaken(op.Kind, ch, cause))
	}
}

// notTaken is the answer to an operation the charge cannot take (or took
// from another operation): FAILED_PRECONDITION with the charge's state.
func notTaken(kind payment.OpKind, ch *amazonpay.Charge, cause error) *completion.Error {
	st := ch.StatusDetails.State
	reason, msg := ReasonChargeNotCapturable, "this capture was not applied: Amazon Pay takes one capture per charge, of an Authorized charge"
	if kind == payment.OpCancel {
		reason, msg = ReasonChargeNotCancelable, "this cancellation was not applied: only an Authorized or AuthorizationInitiated charge can be canceled"
	}
	return completion.NewError(completion.KindFailedPrecondition, reason,
		"the charge is "+st+"; "+msg, cause, map[string]string{"charge_state": st})
}

// proveCapture asks Amazon Pay with the capture's own idempotency key
// whether the capture the charge shows is this operation's: Amazon repeats
// its answer to a key that captured (the capture is this one's), and
// refuses a key that did not with InvalidChargeStatus (the charge took
// another capture: one per charge). The charge is not Authorized, so the
// call cannot capture anything new. Any other failure leaves it unknown,
// for the worker to ask again.
func (s *Service) proveCapture(ctx context.Context, op payment.Operation, owner string, check bool, read *amazonpay.Charge) (Result, error) {
	var a amountArgs
	if err := json.Unmarshal([]byte(op.Request), &a); err != nil {
		return Result{}, fmt.Errorf("chargeops: stored capture arguments: %w", err)
	}
	ch, info, err := s.az.CaptureCharge(ctx, op.ObjectID, amazonpay.CaptureChargeRequest{
		CaptureAmount:  amazonpay.Price{Amount: a.Amount, CurrencyCode: a.Currency},
		SoftDescriptor: a.SoftDescriptor,
	}, amazonpay.WithIdempotencyKey(op.ID))
	s.log.InfoContext(ctx, "amazon pay capture, asked again with its key to learn whose the charge's capture is",
		"object_id", op.ObjectID, "operation_id", op.ID, "status", info.StatusCode, "amazon_request_id", info.RequestID, "error", errString(err))
	if err == nil {
		return s.record(ctx, op, ch, check)
	}
	if f := amazonpay.Classify(err); f.Class == amazonpay.ClassState {
		return s.withdraw(ctx, op, owner, notTaken(op.Kind, read, err))
	}
	return s.markUnknown(ctx, op, owner, completion.RetryDelay(err))
}

// record stores Amazon's charge as op's result: pending while a capture is
// in progress, else done. It retries the store briefly; if it still fails
// the operation stays leased and the worker learns the result again.
func (s *Service) record(ctx context.Context, op payment.Operation, ch *amazonpay.Charge, check bool) (Result, error) {
	now := s.cfg.Now().UTC()
	body, err := json.Marshal(ch)
	if err != nil {
		return Result{}, err
	}
	u := payment.OpUpdate{State: payment.OpDone, Result: body, ReasonCode: ch.StatusDetails.ReasonCode,
		ChargePermissionID: ch.ChargePermissionID, Time: now, Checked: check}
	if (op.Kind == payment.OpCapture || op.Kind == payment.OpCharge) && pendingCharge(ch.StatusDetails.State) {
		u.State = payment.OpPending
		u.NextCheckTime = now.Add(checks.Backoff(s.cfg.PendingFirst, s.cfg.PendingMax, 0, 0.1))
	}
	if op.Kind == payment.OpCharge && ch.StatusDetails.State == payment.ChargeAuthorized {
		// A new authorization: its expiry is read from Amazon. Recorded
		// first: if the process dies before the charge is, the worker
		// learns the charge again and finds the check recorded.
		if err := s.watchExpiry(ctx, ch); err != nil {
			s.log.ErrorContext(ctx, "could not record the charge's expiry check; the worker will learn the charge again",
				"operation_id", op.ID, "error", err.Error())
			return Result{}, storeError(err)
		}
	}
	res, err := s.advance(ctx, op, u)
	if err == nil {
		s.retireExpiry(ctx, op)
	}
	return res, err
}

// advance records u on op, retrying the store briefly; if it still fails
// the operation stays leased and the worker learns the result again.
func (s *Service) advance(ctx context.Context, op payment.Operation, u payment.OpUpdate) (Result, error) {
	var lastErr error
	for i := range 5 {
		stored, changed, err := s.st.AdvanceOperation(ctx, op.ID, u)
		if err == nil {
			res := resultOf(stored)
			if changed {
				s.log.InfoContext(ctx, "operation recorded", "kind", string(op.Kind), "object_id", op.ObjectID,
					"operation_id", op.ID, "state", string(stored.State))
				s.recorded(op.Kind, string(res.Outcome))
			}
			return res, nil
		}
		if errors.Is(err, store.ErrNotFound) {
			return Result{}, completion.NewError(completion.KindInternal, completion.ReasonPaymentNotFound, "the operation disappeared", err, nil)
		}
		lastErr = err
		if !sleep(ctx, time.Duration(100<<i)*time.Millisecond) {
			break
		}
	}
	s.log.ErrorContext(ctx, "could not record an operation's result; the worker will learn it again", "operation_id", op.ID, "error", errString(lastErr))
	return Result{}, storeError(lastErr)
}

// withdraw removes an operation nobody was told about, and returns e. An
// operation a caller already saw as unknown ends failed when e is Amazon's
// refusal (see fail); otherwise it stays, checked again later.
func (s *Service) withdraw(ctx context.Context, op payment.Operation, owner string, e *completion.Error) (Result, error) {
	if op.State != payment.OpSending {
		if refusal(e) {
			// Sent again with its key: Amazon would have answered an
			// applied change with its result, so the refusal is final.
			return s.fail(ctx, op, e)
		}
		s.log.WarnContext(ctx, "amazon pay refused a check of an operation", "operation_id", op.ID, "reason", e.Reason)
		_, _ = s.markUnknown(ctx, op, owner, completion.RetryDelay(e.Err))
		return Result{}, e
	}
	if err := s.st.DeleteOperation(ctx, op.ID, owner); err != nil {
		s.log.WarnContext(ctx, "could not withdraw operation", "operation_id", op.ID, "error", err.Error())
	} else {
		s.recorded(op.Kind, OutcomeWithdrawn)
	}
	return Result{}, e
}

// markUnknown records that the outcome is not known yet, next checked no
// sooner than atLeast from now.
func (s *Service) markUnknown(ctx context.Context, op payment.Operation, owner string, atLeast time.Duration) (Result, error) {
	now := s.cfg.Now().UTC()
	next := now.Add(max(checks.Backoff(s.cfg.FirstDelay, s.cfg.MaxInterval, op.CheckAttempts, 0.2), atLeast))
	if op.State == payment.OpSending {
		stored, changed, err := s.st.AdvanceOperation(ctx, op.ID, payment.OpUpdate{State: payment.OpUnknown, NextCheckTime: next, Time: now})
		if err != nil {
			return Result{}, storeError(err)
		}
		if changed {
			s.recorded(op.Kind, string(payment.Unknown))
		}
		return resultOf(stored), nil
	}
	stored, err := s.st.RescheduleOperation(ctx, op.ID, owner, next, now)
	if err != nil && !errors.Is(err, store.ErrLeaseLost) {
		return Result{}, storeError(err)
	}
	return resultOf(stored), nil
}

// Get returns an operation's recorded result; store.ErrNotFound (as a
// not-found *completion.Error) when none; the refusal of one that ended
// failed.
func (s *Service) Get(ctx context.Context, id string) (Result, error) {
	op, err := s.st.GetOperation(ctx, id)
	if err != nil {
		return Result{}, storeError(err)
	}
	if e, failed := failureOf(op); failed {
		return Result{}, e
	}
	return resultOf(op), nil
}

type extender struct{ st store.Operations }

func (e extender) ExtendLease(ctx context.Context, id, owner string, until time.Time) error {
	return e.st.ExtendOperationLease(ctx, id, owner, until)
}

// readError is the answer to a failed read of a charge (the check before
// an operation): nothing was recorded or sent.
func readError(err error) error {
	return completion.AmazonReadError(completion.CallGetCharge, err)
}

func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, store.ErrNotFound):
		return completion.NewError(completion.KindNotFound, completion.ReasonPaymentNotFound, "no such operation is recorded", err, nil)
	}
	return completion.NewError(completion.KindUnavailable, completion.ReasonStoreUnavailable, "the payment store is unavailable; retry the same call", err, nil)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
