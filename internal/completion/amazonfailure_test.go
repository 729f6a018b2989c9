package completion_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/completion"
)

type want struct {
	step   completion.Step
	kind   completion.Kind
	reason string
}

var (
	reads   = []completion.Call{completion.CallGetCheckoutSession, completion.CallGetCharge, completion.CallGetChargePermission, completion.CallGetRefund}
	changes = []completion.Call{completion.CallComplete, completion.CallCapture, completion.CallCancel, completion.CallRefund, completion.CallCreateCharge, completion.CallClose}
)

func refused(kind completion.Kind, reason string) want {
	return want{completion.StepRefused, kind, reason}
}

var (
	rejected    = refused(completion.KindFailedPrecondition, completion.ReasonAmazonPayRejected)
	notApplied  = want{completion.StepNotApplied, completion.KindUnavailable, completion.ReasonAmazonPayUnavailable}
	unavailable = refused(completion.KindUnavailable, completion.ReasonAmazonPayUnavailable)
	readBack    = want{step: completion.StepReadBack}
	declined    = want{step: completion.StepDeclined}
	passOn      = want{step: completion.StepRefused} // a read's failure that is not Amazon's answer: the error itself
)

// notFound is the NOT_FOUND reason of each call's object.
var notFound = map[completion.Call]string{
	completion.CallGetCheckoutSession: completion.ReasonCheckoutSessionNotFound, completion.CallComplete: completion.ReasonCheckoutSessionNotFound,
	completion.CallGetCharge: completion.ReasonChargeNotFound, completion.CallCapture: completion.ReasonChargeNotFound,
	completion.CallCancel: completion.ReasonChargeNotFound, completion.CallRefund: completion.ReasonChargeNotFound,
	completion.CallGetChargePermission: completion.ReasonChargePermissionNotFound, completion.CallCreateCharge: completion.ReasonChargePermissionNotFound,
	completion.CallClose: completion.ReasonChargePermissionNotFound, completion.CallGetRefund: completion.ReasonRefundNotFound,
}

// amazonAnswers is every answer the simulator can give (a test below
// checks the list against its source) with what it means for each call:
// for reads, and for changes unless per names the call.
var amazonAnswers = []struct {
	status      int
	code        string
	read, other want
	per         map[completion.Call]want
}{
	{404, "ResourceNotFound", want{}, want{}, nil}, // notFound, below
	{403, "InvalidRequestSignature", refused(completion.KindInternal, completion.ReasonAmazonPayAuthFailed), refused(completion.KindInternal, completion.ReasonAmazonPayAuthFailed), nil},
	{429, "TooManyRequests", notApplied, notApplied, nil},
	{503, "ServiceUnavailable", notApplied, notApplied, nil},
	{500, "InternalServerError", unavailable, readBack, nil},
	{400, "InvalidParameterValue", rejected, rejected, nil},
	{400, "MissingParameterValue", rejected, rejected, nil},
	{400, "InvalidHeaderValue", rejected, rejected, nil},
	{400, "MissingHeader", rejected, rejected, nil},
	{400, "InvalidSandboxSimulationSpecified", rejected, rejected, nil},
	{400, "InvalidRequestFormat", rejected, rejected, nil},
	{400, "UnrecognizedField", rejected, rejected, nil},
	{400, "InvalidRequest", rejected, rejected, nil},
	{400, "DuplicateIdempotencyKey", rejected, rejected, nil},
	{405, "UnsupportedOperation", rejected, rejected, nil},
	{409, "UnsupportedOperation", rejected, rejected, nil},
	{422, "InvalidRefundStatus", rejected, rejected, nil},
	{400, "CurrencyMismatch", rejected, refused(completion.KindFailedPrecondition, completion.ReasonCurrencyMismatch), nil},
	{409, "AmountMismatch", rejected, rejected, map[completion.Call]want{
		completion.CallComplete: refused(completion.KindFailedPrecondition, completion.ReasonAmountMismatch)}},
	{422, "InvalidCheckoutSessionStatus", rejected, rejected, map[completion.Call]want{completion.CallComplete: readBack}},
	{422, "CheckoutSessionCanceled", rejected, rejected, map[completion.Call]want{completion.CallComplete: readBack}},
	{422, "InvalidChargeStatus", rejected, rejected, map[completion.Call]want{
		completion.CallCapture: readBack, completion.CallCancel: readBack,
		completion.CallRefund: refused(completion.KindFailedPrecondition, completion.ReasonChargeNotRefundable)}},
	{422, "InvalidChargePermissionStatus", rejected, rejected, map[completion.Call]want{
		completion.CallClose:        readBack,
		completion.CallCreateCharge: refused(completion.KindFailedPrecondition, completion.ReasonChargePermissionNotChargeable)}},
	{400, "TransactionAmountExceeded", rejected, rejected, map[completion.Call]want{
		completion.CallCapture:      refused(completion.KindFailedPrecondition, completion.ReasonCaptureAmountExceeded),
		completion.CallRefund:       refused(completion.KindFailedPrecondition, completion.ReasonRefundAmountExceeded),
		completion.CallCreateCharge: refused(completion.KindFailedPrecondition, completion.ReasonChargeAmountExceeded)}},
	{422, "TransactionCountExceeded", rejected, rejected, map[completion.Call]want{
		completion.CallCreateCharge: refused(completion.KindFailedPrecondition, completion.ReasonChargeCountExceeded)}},
	{422, "HardDeclined", rejected, rejected, map[completion.Call]want{completion.CallCreateCharge: declined}},
	{422, "SoftDeclined", rejected, rejected, map[completion.Call]want{completion.CallCreateCharge: declined}},
	{422, "AmazonRejected", rejected, rejected, map[completion.Call]want{completion.CallCreateCharge: declined}},
	{422, "TransactionTimedOut", rejected, rejected, map[completion.Call]want{completion.CallCreateCharge: declined}},
}

// clientFailures are the failures of the client itself, with what they
// mean for reads and for changes.
var clientFailures = []struct {
	name        string
	err         error
	read, other want
}{
	{"refused before sending", fmt.Errorf("%w: empty charge ID", amazonpay.ErrInvalidRequest),
		refused(completion.KindInvalid, completion.ReasonInvalidRequest), refused(completion.KindInvalid, completion.ReasonInvalidRequest)},
	{"certificate not trusted", &amazonpay.TransportError{Err: x509.UnknownAuthorityError{}},
		refused(completion.KindInternal, completion.ReasonAmazonPayTLSFailed), refused(completion.KindInternal, completion.ReasonAmazonPayTLSFailed)},
	{"unreachable", &amazonpay.TransportError{Err: errors.New("connection refused")}, notApplied, notApplied},
	{"answer lost", &amazonpay.TransportError{Err: amazonpay.ErrAttemptTimeout, MayHaveBeenApplied: true}, unavailable, readBack},
	{"undecodable success", fmt.Errorf("%w: x", amazonpay.ErrMalformedAnswer), passOn, readBack},
	{"caller gone", context.Canceled, passOn, readBack},
}

func check(t *testing.T, call completion.Call, err error, w want) {
	t.Helper()
	d := completion.AmazonFailure(call, amazonpay.Classify(err), err)
	if d.Step != w.step {
		t.Errorf("%s: %v: step %d, want %d", call, err, d.Step, w.step)
		return
	}
	switch {
	case w.reason == "" && w.step != completion.StepNotApplied && w.step != completion.StepReadBack:
		if d.Err != nil {
			t.Errorf("%s: %v: error %v, want none", call, err, d.Err)
		}
	case w.reason != "":
		if d.Err == nil || d.Err.Kind != w.kind || d.Err.Reason != w.reason {
			t.Errorf("%s: %v: error %+v, want kind %d reason %s", call, err, d.Err, w.kind, w.reason)
		}
	}
}

// TestAmazonFailurePolicy: what each of Amazon's answers and the client's
// failures means for every call.
func TestAmazonFailurePolicy(t *testing.T) {
	t.Parallel()
	for _, a := range amazonAnswers {
		err := &amazonpay.Error{StatusCode: a.status, ReasonCode: a.code, Retryable: a.status >= 500 || a.status == 429 || a.status == 408}
		for _, call := range completion.Calls {
			w, ok := a.per[call]
			switch {
			case ok:
			case a.status == 404:
				w = refused(completion.KindNotFound, notFound[call])
			case slicesContains(reads, call):
				w = a.read
			default:
				w = a.other
			}
			check(t, call, err, w)
		}
	}
	for _, c := range clientFailures {
		for _, call := range reads {
			check(t, call, c.err, c.read)
		}
		for _, call := range changes {
			check(t, call, c.err, c.other)
		}
	}
}

func slicesContains(cs []completion.Call, c completion.Call) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// decidedElsewhere are the contract's reasons the policy never gives, and
// what decides them.
var decidedElsewhere = map[string]string{
	"PAYMENT_NOT_FOUND":              "the store has no payment or operation",
	"CHECKOUT_SESSION_NOT_READY":     "the completion's read-back of an Open session",
	"SESSION_BOUND_TO_OTHER_REQUEST": "the store's record of the session",
	"STORE_UNAVAILABLE":              "the store",
	"UNAUTHENTICATED":                "the authentication interceptor",
	"SHUTTING_DOWN":                  "the server's drain",
	"PERMISSION_DENIED":              "the callers file",
	"OVERLOADED":                     "the service's limits",
	"MALFORMED_REQUEST":              "the request decoder",
	"REQUEST_TOO_LARGE":              "the request size limit",
	"TOO_MANY_STREAMS_ON_CONNECTION": "the stream limit",
	"TOO_MANY_WATCHES":               "the watch limit",
	"IDEMPOTENCY_KEY_REUSED":         "the stored operation's arguments",
	"CHARGE_NOT_CAPTURABLE":          "the capture's check and its read-back attribution (after InvalidChargeStatus)",
	"CHARGE_NOT_CANCELABLE":          "the cancellation's check and its read-back attribution (after InvalidChargeStatus)",
	"CHARGE_PERMISSION_CLOSED":       "the closure's check and its read-back (after InvalidChargePermissionStatus)",
}

// TestAmazonFailureReasonsInContract: every reason the policy gives is an
// ErrorReason of the contract, and every ErrorReason of the contract is
// either given by the policy or listed with what decides it.
func TestAmazonFailureReasonsInContract(t *testing.T) {
	t.Parallel()
	given := map[string]bool{}
	note := func(d completion.Decision) {
		if d.Err != nil {
			given[d.Err.Reason] = true
		}
	}
	for _, a := range amazonAnswers {
		err := &amazonpay.Error{StatusCode: a.status, ReasonCode: a.code, Retryable: a.status >= 500 || a.status == 429}
		for _, call := range completion.Calls {
			note(completion.AmazonFailure(call, amazonpay.Classify(err), err))
		}
	}
	for _, c := range clientFailures {
		for _, call := range completion.Calls {
			note(completion.AmazonFailure(call, amazonpay.Classify(c.err), c.err))
		}
	}
	for r := range given {
		if _, ok := pb.ErrorReason_value["ERROR_REASON_"+r]; !ok {
			t.Errorf("the policy gives %s, which the contract's ErrorReason lacks", r)
		}
	}
	for name, v := range pb.ErrorReason_value {
		r := strings.TrimPrefix(name, "ERROR_REASON_")
		if v == 0 {
			continue
		}
		if _, elsewhere := decidedElsewhere[r]; given[r] == elsewhere {
			t.Errorf("ErrorReason %s: given by the policy %v, listed as decided elsewhere %v; want exactly one", r, given[r], elsewhere)
		}
	}
}

// TestAmazonFailureCoversSimulator reads the simulator's source for every
// error answer it can give and checks that the table above names each.
func TestAmazonFailureCoversSimulator(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "amazonpay", "simulator", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("simulator sources: %v", err)
	}
	literal := regexp.MustCompile(`errorf\((\d{3}), "([A-Za-z]+)"`)
	dynamic := regexp.MustCompile(`errorf\((\d{3}), ([a-z][A-Za-z]*)\b`)
	answers := map[string]bool{}
	for _, a := range amazonAnswers {
		answers[fmt.Sprint(a.status, " ", a.code)] = true
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			if !answers[m[1]+" "+m[2]] {
				t.Errorf("%s: the simulator answers %s %s, which the policy table does not list", filepath.Base(f), m[1], m[2])
			}
		}
		for _, m := range dynamic.FindAllStringSubmatch(string(b), -1) {
			// The only computed reason codes are the declines of Create
			// Charge and Complete Checkout Session (listed above).
			if m[1] != "422" || m[2] != "decline" {
				t.Errorf("%s: errorf(%s, %s, ...): a computed reason code the table cannot check", filepath.Base(f), m[1], m[2])
			}
		}
	}
}
