package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// Exit statuses. Outcomes and error classes get distinct codes so scripts
// can branch without parsing output.
const (
	exitCompleted          = 0
	exitOther              = 1
	exitUsage              = 2
	exitInvalidArgument    = 3
	exitNotFound           = 4
	exitFailedPrecondition = 5
	exitUnavailable        = 6
	exitUnauthenticated    = 7
	exitTLS                = 8
	exitPending            = 10
	exitUnknown            = 11
	exitDeclined           = 12
	exitCanceled           = 13
)

// Environment variables the CLI reads.
const (
	envAddr      = "PAYMENTCOMPLETION_ADDR"
	envTokenFile = "PAYMENTCOMPLETION_TOKEN_FILE"
)

const usageText = `Usage: client [global flags] <command> [flags]

Calls the paymentcompletion service the way a storefront backend does.

Commands:
  complete           complete a checkout session
                       -session ID -order ID -amount DECIMAL -currency CODE [-total-amount DECIMAL]
  payment            show the stored payment   -session ID | -order ID
  watch              follow a payment until its outcome is final   -session ID
                       (re-opens the stream if the service restarts; gives up after 2m without news)
  charge             read a charge live from Amazon Pay   -id CHARGE_ID
  charge-permission  read a charge permission live from Amazon Pay (buyer PII)   -id ID
  capture            capture an Authorized charge, exactly once per key
                       -id CHARGE_ID -amount DECIMAL -currency CODE -key IDEMPOTENCY_KEY [-soft-descriptor TEXT]
                       (exit 0 captured, 10 capture in progress, 12 declined, 11 unknown: repeat it later)
  cancel             cancel a charge that is not captured   -id CHARGE_ID [-reason TEXT]
                       (exit 0 canceled, 11 unknown: repeat it later)
  charge-create      authorize (-capture-now: and capture) a new charge on a charge permission,
                     exactly once per key (Confirm checkouts, split shipments, re-authorizing)
                       -permission ID -amount DECIMAL -currency CODE -key IDEMPOTENCY_KEY [-capture-now] [-soft-descriptor TEXT]
                       (exit 0 authorized, 10 pending, 12 declined: reason_code SoftDeclined or HardDeclined)
  close              close a charge permission   -permission ID -reason TEXT [-cancel-pending-charges]
                       (exit 0 closed, 11 unknown: repeat it later)
  refund             refund (part of) a captured charge, exactly once per key
                       -id CHARGE_ID -amount DECIMAL -currency CODE -key IDEMPOTENCY_KEY [-soft-descriptor TEXT]
                       (exit 10 refund initiated: follow it with refund-get; 0 refunded, 12 declined, 11 unknown)
  refund-get         read a refund live from Amazon Pay   -id REFUND_ID
                       (exit 0 refunded, 10 still initiated, 12 declined)
  list               list stored payments, newest first
                       [-outcome UNKNOWN,PENDING] [-since 24h|TIME] [-until 1h|TIME] [-page-size N]
                       (every page; with -page-token TOKEN, or -page-token '' for the first,
                       only that page, and the next page's flags on stderr)

Global flags (also accepted after the command):
  -addr host:port    service address (env PAYMENTCOMPLETION_ADDR; default 127.0.0.1:50051)
  -timeout duration  deadline of unary calls (default: the service config's,
                     30s complete, 5s payment, 10s charge reads; watch has none)
  -json              print responses as protojson (errors as google.rpc.Status JSON)
  -token-file file   file with the bearer token (env PAYMENTCOMPLETION_TOKEN_FILE)
  -tls               connect over TLS (implied by -ca-file and -cert-file)
  -ca-file file      PEM CAs trusted for the service's certificate (default: the system's)
  -cert-file file    PEM client certificate for services that require one (with -key-file)
  -key-file file     PEM private key of -cert-file

Amounts are decimal strings with the currency's decimals: 14.00 USD, 1000 JPY.

Exit status:
   0  completed (or the read succeeded)
  10  pending: payment being confirmed, follow it with watch
  11  unknown: answer not learned yet, the service keeps reconciling
  12  declined
  13  canceled
   2  usage error
   3  INVALID_ARGUMENT (request failed validation)
   4  NOT_FOUND
   5  FAILED_PRECONDITION
   6  UNAVAILABLE or DEADLINE_EXCEEDED: retry the same command
   7  UNAUTHENTICATED, or PERMISSION_DENIED (the caller may not call this)
   8  TLS or certificate mismatch (plaintext to a TLS service, an untrusted
      certificate, a client certificate missing or refused): the message
      names the flag or server setting to fix; retrying cannot help
   1  any other error
`

// usageHint follows a usage error's one line: the command's own lines of
// the usage when the command is known, and where the rest is.
func usageHint(name string) string {
	const more = "Run 'client -help' for every command, the global flags and the exit statuses.\n"
	if name == "" {
		return more
	}
	var b strings.Builder
	in := false
	for line := range strings.Lines(usageText) {
		switch {
		case strings.HasPrefix(line, "  "+name+" "):
			in = true
		case in && !strings.HasPrefix(line, "   "):
			// The next command, or the end of the list.
			return "usage:\n" + b.String() + more
		}
		if in {
			b.WriteString(line)
		}
	}
	return more
}

// globals are the flags every command accepts.
type globals struct {
	addr      string
	timeout   time.Duration
	json      bool
	tokenFile string
	tls       bool
	caFile    string
	certFile  string
	keyFile   string
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.addr, "addr", g.addr, "service address")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "deadline of unary calls")
	fs.BoolVar(&g.json, "json", g.json, "print protojson")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "bearer token file")
	fs.BoolVar(&g.tls, "tls", g.tls, "connect over TLS")
	fs.StringVar(&g.caFile, "ca-file", g.caFile, "PEM CAs trusted for the service")
	fs.StringVar(&g.certFile, "cert-file", g.certFile, "PEM client certificate")
	fs.StringVar(&g.keyFile, "key-file", g.keyFile, "PEM client key")
}

// command is a parsed invocation: the request is built, only the call
// remains.
type command struct {
	name string
	// unary reports whether -timeout applies.
	unary bool
	call  func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error)
}

// errUsage marks errors that should print the usage and exit 2.
var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// flagValue is a command flag's name and the value it was given.
type flagValue struct{ name, v string }

// requireFlags is the usage error naming every required flag of cmd that
// was left empty, or nil when all were given.
func requireFlags(cmd string, flags ...flagValue) error {
	var missing []string
	for _, f := range flags {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usageErr("%s: %s required", cmd, strings.Join(missing, ", "))
	}
	return nil
}

// parseArgs reads the global flags, the command and its flags. It returns
// flag.ErrHelp when help was asked for.
func parseArgs(args []string, lookupEnv func(string) (string, bool)) (globals, command, error) {
	g := globals{addr: "127.0.0.1:50051"}
	if v, ok := lookupEnv(envAddr); ok && v != "" {
		g.addr = v
	}
	if v, ok := lookupEnv(envTokenFile); ok && v != "" {
		g.tokenFile = v
	}
	top := flag.NewFlagSet("client", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	g.register(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return g, command{}, err
		}
		return g, command{}, usageErr("%v", err)
	}
	if top.NArg() == 0 {
		return g, command{}, usageErr("no command given")
	}
	name, rest := top.Arg(0), top.Args()[1:]
	if name == "help" {
		return g, command{}, flag.ErrHelp
	}

	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	var (
		session, order, amount, currency, total, id string
		key, softDescriptor, reason, permission     string
		captureNow, cancelPending                   bool
		outcomes, since, until, pageToken           string
		pageSize                                    int
		cmd                                         command
	)
	switch name {
	case "complete":
		fs.StringVar(&session, "session", "", "checkout session ID")
		fs.StringVar(&order, "order", "", "order ID")
		fs.StringVar(&amount, "amount", "", "amount to charge")
		fs.StringVar(&currency, "currency", "", "currency code")
		fs.StringVar(&total, "total-amount", "", "order total")
	case "payment":
		fs.StringVar(&session, "session", "", "checkout session ID")
		fs.StringVar(&order, "order", "", "order ID")
	case "watch":
		fs.StringVar(&session, "session", "", "checkout session ID")
	case "charge", "charge-permission":
		fs.StringVar(&id, "id", "", "Amazon Pay ID")
	case "refund-get":
		fs.StringVar(&id, "id", "", "refund ID")
	case "close":
		fs.StringVar(&permission, "permission", "", "charge permission ID")
		fs.StringVar(&reason, "reason", "", "closure reason")
		fs.BoolVar(&cancelPending, "cancel-pending-charges", false, "also cancel charges not captured")
	case "charge-create":
		fs.StringVar(&permission, "permission", "", "charge permission ID")
		fs.StringVar(&amount, "amount", "", "amount to charge")
		fs.StringVar(&currency, "currency", "", "currency code")
		fs.StringVar(&key, "key", "", "idempotency key (e.g. the shipment ID)")
		fs.BoolVar(&captureNow, "capture-now", false, "capture at once")
		fs.StringVar(&softDescriptor, "soft-descriptor", "", "text on the buyer's statement")
	case "capture", "refund":
		fs.StringVar(&id, "id", "", "charge ID")
		fs.StringVar(&amount, "amount", "", "amount to capture")
		fs.StringVar(&currency, "currency", "", "currency code")
		fs.StringVar(&key, "key", "", "idempotency key (e.g. the shipment ID)")
		fs.StringVar(&softDescriptor, "soft-descriptor", "", "text on the buyer's statement")
	case "cancel":
		fs.StringVar(&id, "id", "", "charge ID")
		fs.StringVar(&reason, "reason", "", "cancellation reason")
	case "list":
		fs.StringVar(&outcomes, "outcome", "", "comma-separated outcomes")
		fs.StringVar(&since, "since", "", "created at or after: a duration ago or an RFC 3339 time")
		fs.StringVar(&until, "until", "", "created before: a duration ago or an RFC 3339 time")
		fs.IntVar(&pageSize, "page-size", 0, "payments per page")
		fs.StringVar(&pageToken, "page-token", "", "token of the page to show")
	default:
		return g, command{}, usageErr("unknown command %q", name)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return g, command{}, err
		}
		return g, command{name: name}, usageErr("%s: %v", name, err)
	}
	if fs.NArg() > 0 {
		return g, command{name: name}, usageErr("%s: unexpected argument %q", name, fs.Arg(0))
	}

	onePage := false
	fs.Visit(func(f *flag.Flag) { onePage = onePage || f.Name == "page-token" })

	var err error
	switch name {
	case "list":
		var req *pb.ListPaymentsRequest
		req, err = listRequest(outcomes, since, until, pageSize, pageToken, time.Now())
		cmd = command{name: name, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			return list(ctx, c, req, onePage, g.timeout, p)
		}}
	case "complete":
		var req *pb.CompleteCheckoutRequest
		req, err = completeRequest(session, order, amount, currency, total)
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.CompleteCheckout(ctx, req)
			if err != nil {
				return 0, err
			}
			p.payment(resp.GetPayment())
			return outcomeExit(resp.GetPayment().GetOutcome()), nil
		}}
	case "payment":
		var req *pb.GetPaymentRequest
		req, err = paymentRequest(session, order)
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.GetPayment(ctx, req)
			if err != nil {
				return 0, err
			}
			p.payment(resp.GetPayment())
			return outcomeExit(resp.GetPayment().GetOutcome()), nil
		}}
	case "watch":
		if session == "" {
			err = usageErr("watch: -session is required")
		}
		req := &pb.WatchPaymentRequest{CheckoutSessionId: session}
		cmd = command{name: name, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			return watch(ctx, c, req, p, watchReopen)
		}}
	case "charge":
		if id == "" {
			err = usageErr("charge: -id is required")
		}
		req := &pb.GetChargeRequest{ChargeId: id}
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.GetCharge(ctx, req)
			if err != nil {
				return 0, err
			}
			p.charge(resp.GetCharge())
			return exitCompleted, nil
		}}
	case "capture":
		err = requireFlags("capture", flagValue{"-id", id}, flagValue{"-amount", amount}, flagValue{"-currency", currency}, flagValue{"-key", key})
		req := &pb.CaptureChargeRequest{ChargeId: id, CaptureAmount: &pb.Money{Amount: amount, CurrencyCode: strings.ToUpper(currency)},
			IdempotencyKey: key, SoftDescriptor: softDescriptor}
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.CaptureCharge(ctx, req)
			if err != nil {
				return 0, err
			}
			p.operation(resp.GetOutcome(), resp.GetCharge(), resp)
			return outcomeExit(resp.GetOutcome()), nil
		}}
	case "refund":
		err = requireFlags("refund", flagValue{"-id", id}, flagValue{"-amount", amount}, flagValue{"-currency", currency}, flagValue{"-key", key})
		req := &pb.RefundChargeRequest{ChargeId: id, RefundAmount: &pb.Money{Amount: amount, CurrencyCode: strings.ToUpper(currency)},
			IdempotencyKey: key, SoftDescriptor: softDescriptor}
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.RefundCharge(ctx, req)
			if err != nil {
				return 0, err
			}
			if p.json {
				p.jsonLine(resp, true)
			} else {
				p.field("outcome", outcomeName(resp.GetOutcome()))
				if r := resp.GetRefund(); r != nil {
					p.refund(r)
				}
			}
			return outcomeExit(resp.GetOutcome()), nil
		}}
	case "close":
		if permission == "" || reason == "" {
			err = usageErr("close: -permission and -reason are required")
		}
		req := &pb.CloseChargePermissionRequest{ChargePermissionId: permission, ClosureReason: reason, CancelPendingCharges: cancelPending}
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.CloseChargePermission(ctx, req)
			if err != nil {
				return 0, err
			}
			if p.json {
				p.jsonLine(resp, true)
			} else {
				p.field("outcome", outcomeName(resp.GetOutcome()))
				if cp := resp.GetChargePermission(); cp != nil {
					p.chargePermission(cp)
				}
			}
			return outcomeExit(resp.GetOutcome()), nil
		}}
	case "charge-create":
		err = requireFlags("charge-create", flagValue{"-permission", permission}, flagValue{"-amount", amount}, flagValue{"-currency", currency}, flagValue{"-key", key})
		req := &pb.CreateChargeRequest{ChargePermissionId: permission, ChargeAmount: &pb.Money{Amount: amount, CurrencyCode: strings.ToUpper(currency)},
			CaptureNow: captureNow, IdempotencyKey: key, SoftDescriptor: softDescriptor}
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.CreateCharge(ctx, req)
			if err != nil {
				return 0, err
			}
			if p.json {
				p.jsonLine(resp, true)
			} else {
				p.field("outcome", outcomeName(resp.GetOutcome()))
				p.field("reason_code", resp.GetReasonCode())
				if ch := resp.GetCharge(); ch != nil {
					p.charge(ch)
				}
			}
			return outcomeExit(resp.GetOutcome()), nil
		}}
	case "refund-get":
		if id == "" {
			err = usageErr("refund-get: -id is required")
		}
		req := &pb.GetRefundRequest{RefundId: id}
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.GetRefund(ctx, req)
			if err != nil {
				return 0, err
			}
			p.refund(resp.GetRefund())
			switch resp.GetRefund().GetState() {
			case pb.RefundState_REFUND_STATE_REFUNDED:
				return exitCompleted, nil
			case pb.RefundState_REFUND_STATE_DECLINED:
				return exitDeclined, nil
			default:
				return exitPending, nil
			}
		}}
	case "cancel":
		if id == "" {
			err = usageErr("cancel: -id is required")
		}
		req := &pb.CancelChargeRequest{ChargeId: id, CancellationReason: reason}
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.CancelCharge(ctx, req)
			if err != nil {
				return 0, err
			}
			p.operation(resp.GetOutcome(), resp.GetCharge(), resp)
			if resp.GetOutcome() == pb.Outcome_OUTCOME_CANCELED {
				return exitCompleted, nil
			}
			return outcomeExit(resp.GetOutcome()), nil
		}}
	case "charge-permission":
		if id == "" {
			err = usageErr("charge-permission: -id is required")
		}
		req := &pb.GetChargePermissionRequest{ChargePermissionId: id}
		cmd = command{name: name, unary: true, call: func(ctx context.Context, c pb.PaymentCompletionServiceClient, p *printer) (int, error) {
			resp, err := c.GetChargePermission(ctx, req)
			if err != nil {
				return 0, err
			}
			p.chargePermission(resp.GetChargePermission())
			return exitCompleted, nil
		}}
	}
	if err != nil {
		return g, command{name: name}, err
	}
	if g.timeout < 0 {
		return g, command{}, usageErr("-timeout must not be negative")
	}
	return g, cmd, nil
}

// completeRequest builds a CompleteCheckoutRequest. Only presence is
// checked here: the service validates formats and answers INVALID_ARGUMENT
// with every problem listed.
func completeRequest(session, order, amount, currency, total string) (*pb.CompleteCheckoutRequest, error) {
	if err := requireFlags("complete", flagValue{"-session", session}, flagValue{"-order", order}, flagValue{"-amount", amount}, flagValue{"-currency", currency}); err != nil {
		return nil, err
	}
	req := &pb.CompleteCheckoutRequest{
		CheckoutSessionId: session,
		OrderId:           order,
		ChargeAmount:      &pb.Money{Amount: amount, CurrencyCode: strings.ToUpper(currency)},
	}
	if total != "" {
		req.TotalOrderAmount = &pb.Money{Amount: total, CurrencyCode: strings.ToUpper(currency)}
	}
	return req, nil
}

// listRequest builds the ListPaymentsRequest of the first page: outcomes
// by name (with or without OUTCOME_, any case), and the creation range from
// durations before now or RFC 3339 times.
func listRequest(outcomes, since, until string, pageSize int, pageToken string, now time.Time) (*pb.ListPaymentsRequest, error) {
	req := &pb.ListPaymentsRequest{PageToken: pageToken}
	if pageSize < 0 || pageSize > math.MaxInt32 {
		return nil, usageErr("list: -page-size must be between 0 and %d", math.MaxInt32)
	}
	req.PageSize = int32(pageSize)
	for name := range strings.SplitSeq(outcomes, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		v, ok := pb.Outcome_value["OUTCOME_"+strings.TrimPrefix(name, "OUTCOME_")]
		if !ok || v == int32(pb.Outcome_OUTCOME_UNSPECIFIED) {
			return nil, usageErr("list: -outcome: unknown outcome %q (want COMPLETED, PENDING, DECLINED, CANCELED or UNKNOWN)", name)
		}
		req.Outcomes = append(req.Outcomes, pb.Outcome(v))
	}
	for _, b := range []struct {
		flag, v string
		dst     **timestamppb.Timestamp
	}{{"-since", since, &req.CreateTimeStart}, {"-until", until, &req.CreateTimeEnd}} {
		if b.v == "" {
			continue
		}
		t, err := pointInTime(b.v, now)
		if err != nil {
			return nil, usageErr("list: %s: %v", b.flag, err)
		}
		*b.dst = timestamppb.New(t)
	}
	return req, nil
}

// pointInTime reads v as a duration before now ("24h", "90m") or as an
// RFC 3339 time.
func pointInTime(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("duration %q must not be negative", v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("want a duration such as 24h or a time such as 2026-12-01T00:00:00Z, got %q", v)
	}
	return t, nil
}

// list prints the payments of req: every page, or with onePage only the
// page req asks for and, on stderr, the next page's token. Each page's call
// has its own timeout: -timeout if given, else the service config's.
func list(ctx context.Context, c pb.PaymentCompletionServiceClient, req *pb.ListPaymentsRequest, onePage bool, timeout time.Duration, p *printer) (int, error) {
	listed := 0
	for {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, timeout)
		}
		resp, err := c.ListPayments(cctx, req)
		cancel()
		if err != nil {
			return 0, err
		}
		if onePage {
			p.listPage(resp)
			switch {
			case resp.GetNextPageToken() != "":
				p.note("next page: list %s", nextPageFlags(req, resp.GetNextPageToken()))
			case len(resp.GetPayments()) == 0 && req.GetPageToken() == "":
				p.note("no payments match")
			case len(resp.GetPayments()) == 0:
				p.note("no more payments")
			}
			return exitCompleted, nil
		}
		for _, m := range resp.GetPayments() {
			p.listed(m)
		}
		listed += len(resp.GetPayments())
		if resp.GetNextPageToken() == "" || p.err != nil {
			if listed == 0 {
				p.note("no payments match")
			}
			return exitCompleted, nil
		}
		req = proto.CloneOf(req)
		req.PageToken = resp.GetNextPageToken()
	}
}

// nextPageFlags are list's flags for the page after req: a page token
// belongs to its listing's filter, so they repeat req's outcomes and
// creation times, the times as the RFC 3339 instants req was sent with (a
// duration such as -since 24h would mean another instant by the next
// call).
func nextPageFlags(req *pb.ListPaymentsRequest, token string) string {
	var flags []string
	if len(req.GetOutcomes()) > 0 {
		names := make([]string, len(req.GetOutcomes()))
		for i, o := range req.GetOutcomes() {
			names[i] = outcomeName(o)
		}
		flags = append(flags, "-outcome", strings.Join(names, ","))
	}
	if req.GetCreateTimeStart() != nil {
		flags = append(flags, "-since", req.GetCreateTimeStart().AsTime().UTC().Format(time.RFC3339Nano))
	}
	if req.GetCreateTimeEnd() != nil {
		flags = append(flags, "-until", req.GetCreateTimeEnd().AsTime().UTC().Format(time.RFC3339Nano))
	}
	if req.GetPageSize() > 0 {
		flags = append(flags, "-page-size", strconv.Itoa(int(req.GetPageSize())))
	}
	return strings.Join(append(flags, "-page-token", token), " ")
}

// paymentRequest builds a GetPaymentRequest from exactly one key.
func paymentRequest(session, order string) (*pb.GetPaymentRequest, error) {
	switch {
	case session != "" && order != "":
		return nil, usageErr("payment: give -session or -order, not both")
	case session != "":
		return &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: session}}, nil
	case order != "":
		return &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: order}}, nil
	default:
		return nil, usageErr("payment: -session or -order is required")
	}
}

// reopenPolicy says how watch re-opens a stream that ended UNAVAILABLE (the
// server shutting down, the connection lost): after min, doubling up to
// max, for as long as no stream has delivered anything for giveUpAfter.
type reopenPolicy struct {
	min, max, giveUpAfter time.Duration
}

// watchReopen rides out a restart or a rolling deployment of the service.
var watchReopen = reopenPolicy{min: 200 * time.Millisecond, max: 5 * time.Second, giveUpAfter: 2 * time.Minute}

// watch prints every update of the payment until a stream ends with OK,
// which means it delivered the final outcome; the exit status is that
// outcome's. Once an update has arrived, a stream that ends UNAVAILABLE is
// re-opened, as the contract asks, with a note on stderr; the re-opened
// stream first repeats the current state, which is not printed again if
// unchanged.
func watch(ctx context.Context, c pb.PaymentCompletionServiceClient, req *pb.WatchPaymentRequest, p *printer, rp reopenPolicy) (int, error) {
	var (
		last     *pb.Payment // last update printed
		quietFor time.Time   // start of the failures since the last update
		delay    = rp.min
	)
	for {
		err := watchStream(ctx, c, req, p, &last, func() { quietFor, delay = time.Time{}, rp.min })
		if err == nil {
			return outcomeExit(last.GetOutcome()), nil
		}
		// A service unreachable from the start fails fast, as the other
		// commands do; only a watch under way rides out a restart.
		if status.Code(err) != codes.Unavailable || ctx.Err() != nil || last == nil {
			return 0, err
		}
		if quietFor.IsZero() {
			quietFor = time.Now()
		}
		if time.Since(quietFor) >= rp.giveUpAfter {
			return 0, err
		}
		// Jitter spreads the watchers a shutdown ended all at once.
		wait := delay/2 + rand.N(delay/2+1)
		p.note("stream ended: %s; re-opening in %v", status.Convert(err).Message(), wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(wait):
		}
		delay = min(2*delay, rp.max)
	}
}

// watchStream prints the updates of one WatchPayment stream and returns nil
// if it ended with OK. last is the last update printed, kept across
// streams; progress is called for each update received.
func watchStream(ctx context.Context, c pb.PaymentCompletionServiceClient, req *pb.WatchPaymentRequest, p *printer, last **pb.Payment, progress func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.WatchPayment(ctx, req)
	if err != nil {
		return err
	}
	for first := true; ; first = false {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		progress()
		m := resp.GetPayment()
		if first && *last != nil && proto.Equal(m, *last) {
			continue
		}
		*last = m
		p.update(m)
	}
}

// outcomeExit maps an outcome to the exit status.
func outcomeExit(o pb.Outcome) int {
	switch o {
	case pb.Outcome_OUTCOME_COMPLETED:
		return exitCompleted
	case pb.Outcome_OUTCOME_PENDING:
		return exitPending
	case pb.Outcome_OUTCOME_DECLINED:
		return exitDeclined
	case pb.Outcome_OUTCOME_CANCELED:
		return exitCanceled
	default:
		// UNSPECIFIED is to be treated as UNKNOWN, per the contract.
		return exitUnknown
	}
}

// errorExit maps a call error to the exit status.
func errorExit(c codes.Code) int {
	switch c {
	case codes.InvalidArgument:
		return exitInvalidArgument
	case codes.NotFound:
		return exitNotFound
	case codes.FailedPrecondition:
		return exitFailedPrecondition
	case codes.Unavailable, codes.DeadlineExceeded:
		return exitUnavailable
	case codes.Unauthenticated, codes.PermissionDenied:
		return exitUnauthenticated
	default:
		return exitOther
	}
}

// dialFunc opens a client connection to addr with the given transport
// credentials.
type dialFunc func(addr string, creds credentials.TransportCredentials) (*grpc.ClientConn, error)

// transportCredentials returns TLS credentials when -tls, -ca-file or
// -cert-file asks for them (TLS 1.2 or later, the service's name checked
// against its certificate), plaintext otherwise.
func (g globals) transportCredentials() (credentials.TransportCredentials, error) {
	if !g.tls && g.caFile == "" && g.certFile == "" && g.keyFile == "" {
		return insecure.NewCredentials(), nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if g.caFile != "" {
		pem, err := os.ReadFile(g.caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca-file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca-file: %s holds no PEM certificate", g.caFile)
		}
	}
	switch {
	case g.certFile != "" && g.keyFile != "":
		cert, err := tls.LoadX509KeyPair(g.certFile, g.keyFile)
		if err != nil {
			return nil, fmt.Errorf("-cert-file, -key-file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	case g.certFile != "" || g.keyFile != "":
		return nil, errors.New("-cert-file and -key-file go together")
	}
	return credentials.NewTLS(c), nil
}

// runCLI runs one invocation and returns the exit status.
func runCLI(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer, dial dialFunc) int {
	g, cmd, err := parseArgs(args, lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageText)
		return exitCompleted
	}
	if err != nil {
		fmt.Fprintf(stderr, "client: %s\n%s", strings.TrimPrefix(err.Error(), "usage: "), usageHint(cmd.name))
		return exitUsage
	}
	if g.tokenFile != "" {
		b, err := os.ReadFile(g.tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "client: token file: %v\n", err)
			return exitUsage
		}
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(b)))
	}
	creds, err := g.transportCredentials()
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return exitUsage
	}
	seen := &tlsErrors{}
	conn, err := dial(g.addr, watchedCredentials{TransportCredentials: creds, seen: seen})
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return exitUsage
	}
	defer conn.Close()
	base := ctx
	if cmd.unary && g.timeout > 0 {
		// Otherwise the service config's per-method timeout applies.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	p := &printer{w: stdout, notes: stderr, json: g.json}
	code, err := cmd.call(ctx, pb.NewPaymentCompletionServiceClient(conn), p)
	if p.err != nil {
		fmt.Fprintf(stderr, "client: writing output: %v\n", p.err)
		return exitOther
	}
	if err != nil {
		if problem := g.tlsProblem(base, err, seen.all(), speaksTLS); problem != "" {
			fmt.Fprintf(stderr, "client: TLS: %s\n  (%s: %s)\n", problem, codeName(status.Code(err)), status.Convert(err).Message())
			return exitTLS
		}
		return printError(stderr, err, g.json)
	}
	return code
}
