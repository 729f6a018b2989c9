package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
)

// TestMoneyChaos is the storefront's money operations under everything at
// once, against the server binary: completed payments, then for each a
// random order story (capture in full, partial capture then a new charge,
// refunds in parts, cancel, close with cancel_pending_charges, create
// charge), each business operation sent as a retrying client does (twice
// at once with the same arguments, re-sent on UNAVAILABLE and UNKNOWN),
// with competing keys on one object, while the simulator faults every
// Amazon call kind at random and the server is killed (SIGKILL) and
// restarted on its database, or PostgreSQL is cut under two replicas.
// Afterwards every payment as stored equals Amazon's objects, charge by
// charge and refund by refund, every operation is final, every duplicate
// got its twin's answer, and Amazon holds one effect per operation.
//
// MONEYCHAOS_SCALE (default 1) multiplies the orders and disruptions;
// MONEYCHAOS_SEED fixes the stories and the faults.
func TestMoneyChaos(t *testing.T) {
	t.Parallel()
	scale := envInt(t, "MONEYCHAOS_SCALE", 1)
	seed := uint64(envInt(t, "MONEYCHAOS_SEED", int(time.Now().UnixNano()%1_000_000)))
	t.Logf("MONEYCHAOS_SEED=%d MONEYCHAOS_SCALE=%d", seed, scale)
	t.Run("sqlite_kill9", func(t *testing.T) {
		t.Parallel()
		a := newAmazonSim(t, time.Second)
		env := a.serverEnv(t, sqliteURL(t))
		h := newChaos(t, a, seed, []map[string]string{env})
		h.run(24*scale, chaosPlan{kills: 5 * scale})
	})
	t.Run("postgres_two_replicas_cut", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		proxy := newTCPProxy(t, u.Host)
		u.Host = proxy.lis.Addr().String()
		a := newAmazonSim(t, time.Second)
		var envs []map[string]string
		for _, id := range []string{"replica-a", "replica-b"} {
			e := a.serverEnv(t, u.String())
			e["REPLICA_ID"] = id
			envs = append(envs, e)
		}
		h := newChaos(t, a, seed+1, envs)
		h.run(12*scale, chaosPlan{kills: 2 * scale, cuts: 2 * scale, proxy: proxy})
	})
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// chaosPlan is what disrupts the run besides the simulator's faults.
type chaosPlan struct {
	kills int       // SIGKILLs of a server, each restarted on its database
	cuts  int       // PostgreSQL cuts (with proxy)
	proxy *tcpProxy // between the servers and PostgreSQL
}

// chaos is one run: the simulator, the servers (restarted in place) and
// what the retrying client sent and heard.
type chaos struct {
	t    *testing.T
	a    *amazonSim
	envs []map[string]string

	mu    sync.Mutex
	procs []*proc
	rng   *rand.Rand
	ops   []*chaosOp

	faults, kills, cuts, sends, retries, dups, competing, mismatches atomic.Int64
}

func newChaos(t *testing.T, a *amazonSim, seed uint64, envs []map[string]string) *chaos {
	h := &chaos{t: t, a: a, envs: envs, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for _, e := range envs {
		h.procs = append(h.procs, startProc(t, e))
	}
	return h
}

func (h *chaos) intn(n int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rng.IntN(n)
}

// client is a server to send to, chosen at random among those running
// (a killed one is replaced in place).
func (h *chaos) client() pb.PaymentCompletionServiceClient {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.procs[h.rng.IntN(len(h.procs))].Client
}

// mismatch reports a difference between what was expected and what was
// found, and counts it.
func (h *chaos) mismatch(format string, args ...any) {
	h.mismatches.Add(1)
	h.t.Errorf(format, args...)
}

// answer is what a retrying client finally heard for one send.
type answer struct {
	outcome pb.Outcome
	code    codes.Code
	reason  string
	id      string // the refund's or the new charge's ID, when answered
	amount  string // the charge's capture amount, when answered
	gaveUp  bool
}

func (a answer) String() string {
	switch {
	case a.gaveUp:
		return fmt.Sprintf("gave up (last %s %s %s)", a.outcome, a.code, a.reason)
	case a.code != codes.OK:
		return fmt.Sprintf("%s %s", a.code, a.reason)
	}
	return a.outcome.String()
}

// ok reports whether the operation was accepted (applied, or applying).
func (a answer) ok() bool {
	return !a.gaveUp && a.code == codes.OK &&
		(a.outcome == pb.Outcome_OUTCOME_COMPLETED || a.outcome == pb.Outcome_OUTCOME_PENDING || a.outcome == pb.Outcome_OUTCOME_CANCELED)
}

// sameAnswer reports whether two twins were told the same: the same error
// reason, or the same outcome (a twin answered later may see a pending
// refund or charge settled).
func sameAnswer(x, y answer) bool {
	if x.gaveUp || y.gaveUp || x.code != y.code || x.reason != y.reason {
		return false
	}
	if x.code != codes.OK {
		return true
	}
	if x.id != y.id {
		return false
	}
	if x.outcome == y.outcome {
		return true
	}
	return x.outcome == pb.Outcome_OUTCOME_PENDING || y.outcome == pb.Outcome_OUTCOME_PENDING
}

// documented are the final outcomes each RPC's contract allows.
var documented = map[string][]pb.Outcome{
	"capture":       {pb.Outcome_OUTCOME_COMPLETED, pb.Outcome_OUTCOME_PENDING, pb.Outcome_OUTCOME_DECLINED},
	"refund":        {pb.Outcome_OUTCOME_COMPLETED, pb.Outcome_OUTCOME_PENDING, pb.Outcome_OUTCOME_DECLINED},
	"create_charge": {pb.Outcome_OUTCOME_COMPLETED, pb.Outcome_OUTCOME_PENDING, pb.Outcome_OUTCOME_DECLINED, pb.Outcome_OUTCOME_CANCELED},
	"cancel":        {pb.Outcome_OUTCOME_CANCELED},
	"close":         {pb.Outcome_OUTCOME_COMPLETED},
}

// chaosOp is one business operation of a story.
type chaosOp struct {
	order, kind, key string
	amount           string // capture, refund or charge amount
	send             func(context.Context, pb.PaymentCompletionServiceClient) (answer, error)
	twins            [2]answer
}

// final is the operation's answer: the twin that saw it settled.
func (o *chaosOp) final() answer {
	if o.twins[0].outcome == pb.Outcome_OUTCOME_PENDING {
		return o.twins[1]
	}
	return o.twins[0]
}

// retryable are the answers a retrying client sends again: the server is
// down or restarting, or its store or Amazon is unavailable for now.
func retryable(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		return true
	}
	return false
}

// retrying sends op until it gets an answer that is not UNKNOWN and not a
// temporary failure, as a storefront's retrying client does.
func (h *chaos) retrying(ctx context.Context, op *chaosOp) answer {
	deadline := time.Now().Add(90 * time.Second)
	var last answer
	for first := true; ; first = false {
		if !first {
			h.retries.Add(1)
			select {
			case <-ctx.Done():
				last.gaveUp = true
				return last
			case <-time.After(time.Duration(150+h.intn(200)) * time.Millisecond):
			}
		}
		h.sends.Add(1)
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		got, err := op.send(cctx, h.client())
		cancel()
		if err != nil {
			st, _ := status.FromError(err)
			got = answer{code: st.Code()}
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					got.reason = info.GetReason()
				}
			}
			if !retryable(got.code) {
				return got
			}
		} else if got.outcome != pb.Outcome_OUTCOME_UNKNOWN {
			return got
		}
		last = got
		if time.Now().After(deadline) {
			last.gaveUp = true
			return last
		}
	}
}

// do sends op as two concurrent identical requests (the same key and
// arguments), each retried, and records both answers.
func (h *chaos) do(ctx context.Context, op *chaosOp) answer {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
	h.dups.Add(1)
	var wg sync.WaitGroup
	for i := range op.twins {
		wg.Go(func() { op.twins[i] = h.retrying(ctx, op) })
	}
	wg.Wait()
	return op.final()
}

// compete runs ops on one object at once (different keys).
func (h *chaos) compete(ctx context.Context, ops ...*chaosOp) {
	h.competing.Add(1)
	var wg sync.WaitGroup
	for _, op := range ops {
		wg.Go(func() { h.do(ctx, op) })
	}
	wg.Wait()
}

func (h *chaos) capture(order, chargeID, key, amount string) *chaosOp {
	return &chaosOp{order: order, kind: "capture", key: key, amount: amount,
		send: func(ctx context.Context, c pb.PaymentCompletionServiceClient) (answer, error) {
			r, err := c.CaptureCharge(ctx, &pb.CaptureChargeRequest{ChargeId: chargeID, CaptureAmount: usd(amount), IdempotencyKey: key})
			return answer{outcome: r.GetOutcome(), amount: r.GetCharge().GetCaptureAmount().GetAmount()}, err
		}}
}

func (h *chaos) refund(order, chargeID, key, amount string) *chaosOp {
	return &chaosOp{order: order, kind: "refund", key: key, amount: amount,
		send: func(ctx context.Context, c pb.PaymentCompletionServiceClient) (answer, error) {
			r, err := c.RefundCharge(ctx, &pb.RefundChargeRequest{ChargeId: chargeID, RefundAmount: usd(amount), IdempotencyKey: key})
			return answer{outcome: r.GetOutcome(), id: r.GetRefund().GetRefundId()}, err
		}}
}

func (h *chaos) createCharge(order, permissionID, key, amount string) *chaosOp {
	return &chaosOp{order: order, kind: "create_charge", key: key, amount: amount,
		send: func(ctx context.Context, c pb.PaymentCompletionServiceClient) (answer, error) {
			r, err := c.CreateCharge(ctx, &pb.CreateChargeRequest{ChargePermissionId: permissionID, ChargeAmount: usd(amount), CaptureNow: true, IdempotencyKey: key})
			return answer{outcome: r.GetOutcome(), id: r.GetCharge().GetChargeId()}, err
		}}
}

func (h *chaos) cancel(order, chargeID string) *chaosOp {
	return &chaosOp{order: order, kind: "cancel",
		send: func(ctx context.Context, c pb.PaymentCompletionServiceClient) (answer, error) {
			r, err := c.CancelCharge(ctx, &pb.CancelChargeRequest{ChargeId: chargeID, CancellationReason: "out of stock"})
			return answer{outcome: r.GetOutcome()}, err
		}}
}

func (h *chaos) closePermission(order, permissionID string) *chaosOp {
	return &chaosOp{order: order, kind: "close",
		send: func(ctx context.Context, c pb.PaymentCompletionServiceClient) (answer, error) {
			r, err := c.CloseChargePermission(ctx, &pb.CloseChargePermissionRequest{ChargePermissionId: permissionID, ClosureReason: "order canceled", CancelPendingCharges: true})
			return answer{outcome: r.GetOutcome()}, err
		}}
}

// The order stories; each payment is 100.00.
var chaosStories = []string{"capture_full", "partial_then_charge", "refunds_in_parts", "cancel", "close", "create_charge"}

func storyIntent(story string) string {
	switch story {
	case "refunds_in_parts":
		return "AuthorizeWithCapture"
	case "create_charge":
		return "Confirm"
	}
	return "Authorize"
}

// story plays one order's story.
func (h *chaos) story(ctx context.Context, story string, p *pb.Payment) {
	order, ch, cp := p.GetOrderId(), p.GetChargeId(), p.GetChargePermissionId()
	switch story {
	case "capture_full":
		// Two shipment workers: the full amount and a part, different keys.
		h.compete(ctx, h.capture(order, ch, order+"-capA", "100.00"), h.capture(order, ch, order+"-capB", "30.00"))
	case "partial_then_charge":
		h.compete(ctx, h.capture(order, ch, order+"-capA", "60.00"), h.capture(order, ch, order+"-capB", "40.00"))
		h.do(ctx, h.createCharge(order, cp, order+"-rest", "40.00"))
	case "refunds_in_parts":
		h.do(ctx, h.refund(order, ch, order+"-ref1", "30.00"))
		h.compete(ctx, h.refund(order, ch, order+"-ref2", "30.00"), h.refund(order, ch, order+"-ref3", "50.00"))
	case "cancel":
		h.compete(ctx, h.cancel(order, ch), h.capture(order, ch, order+"-cap", "100.00"))
	case "close":
		h.do(ctx, h.closePermission(order, cp))
	case "create_charge":
		h.compete(ctx, h.createCharge(order, cp, order+"-chA", "60.00"), h.createCharge(order, cp, order+"-chB", "60.00"))
	}
}

// The Amazon call kinds the money operations make, and the faults.
var (
	chaosCallKinds = []string{"CaptureCharge", "CreateRefund", "CancelCharge", "CloseChargePermission", "CreateCharge",
		"GetCharge", "GetRefund", "GetChargePermission"}
	chaosFaultKinds = []string{"lostResponse", "timeout", "http500", "http503", "http429", "reset"}
)

// run plays n orders under the plan's disruptions, lets the workers
// settle, and checks everything against Amazon.
func (h *chaos) run(n int, plan chaosPlan) {
	t := h.t
	ctx := t.Context()
	start := time.Now()

	// The payments, completed without faults.
	type order struct {
		story string
		p     *pb.Payment
	}
	orders := make([]order, n)
	{
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i := range orders {
			story := chaosStories[i%len(chaosStories)]
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				spec := sessionSpec{Amount: "100.00", Intent: storyIntent(story), Scenario: "Authorized"}
				id := h.a.newSession(t, ctx, spec)
				resp, err := h.client().CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: id, OrderId: fmt.Sprintf("chaos-%d", i), ChargeAmount: usd("100.00")})
				if err != nil || resp.GetPayment().GetOutcome() != pb.Outcome_OUTCOME_COMPLETED {
					t.Errorf("complete order %d: %v, %v", i, resp, err)
					return
				}
				orders[i] = order{story: story, p: resp.GetPayment()}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}

	// The disruptions, until the stories are played.
	// The faults, until the stories are played and the disruptions made.
	faultsDone := make(chan struct{})
	var dwg, fwg sync.WaitGroup
	fwg.Go(func() { h.injectFaults(faultsDone) })
	dwg.Go(func() { h.disrupt(plan) })

	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	// The stories start over the disruption window, so that kills and
	// cuts meet operations in flight.
	window := time.Duration(plan.kills+plan.cuts) * 1500 * time.Millisecond
	for _, o := range orders {
		delay := time.Duration(h.intn(int(window/time.Millisecond)+1)) * time.Millisecond
		wg.Go(func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			h.story(ctx, o.story, o.p)
		})
	}
	wg.Wait()
	dwg.Wait()
	close(faultsDone)
	fwg.Wait()
	h.faults.Add(-int64(h.queuedFaults())) // never met by a call
	h.a.clearFaults(t)
	played := time.Since(start)

	// Every answer the client heard is final and one its RPC documents;
	// twins heard the same.
	for _, op := range h.ops {
		for _, tw := range op.twins {
			if tw.gaveUp || tw.outcome == pb.Outcome_OUTCOME_UNKNOWN && tw.code == codes.OK {
				h.mismatch("%s %s %s: a retrying client got no final answer: %s", op.order, op.kind, op.key, tw)
			}
			if tw.code == codes.OK && !slices.Contains(documented[op.kind], tw.outcome) {
				h.mismatch("%s %s %s: answered %s, which its RPC does not document", op.order, op.kind, op.key, tw)
			}
		}
		if !sameAnswer(op.twins[0], op.twins[1]) {
			h.mismatch("%s %s %s: the twins were told %s and %s", op.order, op.kind, op.key, op.twins[0], op.twins[1])
		}
	}

	// Let the workers settle: every watch ends (nothing pending or unknown
	// left) within a bounded time.
	settleBy := time.Now().Add(60 * time.Second)
	for _, o := range orders {
		h.waitSettled(o.p.GetCheckoutSessionId(), time.Until(settleBy))
	}

	// A keyed operation sent again now gets its answer, settled.
	for _, op := range h.ops {
		if op.key == "" {
			continue
		}
		again := h.retrying(ctx, op)
		if !sameAnswer(op.final(), again) || again.outcome == pb.Outcome_OUTCOME_PENDING {
			h.mismatch("%s %s %s: answered %s, and %s when sent again after settling", op.order, op.kind, op.key, op.final(), again)
		}
	}

	// Stored state equals Amazon's, and Amazon holds one effect per
	// operation.
	calls := map[string]int{}
	for _, o := range orders {
		h.compareWithAmazon(o.p)
		for k, v := range h.a.calls(t, o.p.GetCheckoutSessionId()) {
			calls[k] += v
		}
	}

	var names []string
	for k, v := range calls {
		names = append(names, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(names)
	t.Logf("money chaos: %d orders, %d operations (%d sent as concurrent duplicates, %d competing groups), %d sends (%d retries), "+
		"%d faults met, %d kills, %d database cuts, %d mismatches; played in %v, checked in %v",
		n, len(h.ops), h.dups.Load(), h.competing.Load(), h.sends.Load(), h.retries.Load(),
		h.faults.Load(), h.kills.Load(), h.cuts.Load(), h.mismatches.Load(), played.Round(time.Millisecond), (time.Since(start) - played).Round(time.Millisecond))
	t.Logf("Amazon calls received: %s", strings.Join(names, " "))
}

// injectFaults keeps a fault queued on an Amazon call kind (at most
// four waiting at a time, so that calls fail at random rather than
// always) until done, going through every pair of call kind and fault
// kind in a shuffled order, again and again.
func (h *chaos) injectFaults(done <-chan struct{}) {
	type pair struct{ op, kind string }
	var pairs []pair
	for _, op := range chaosCallKinds {
		for _, kind := range chaosFaultKinds {
			pairs = append(pairs, pair{op, kind})
		}
	}
	for i := 0; ; i++ {
		if i%len(pairs) == 0 {
			h.mu.Lock()
			h.rng.Shuffle(len(pairs), func(a, b int) { pairs[a], pairs[b] = pairs[b], pairs[a] })
			h.mu.Unlock()
		}
		for h.queuedFaults() >= 4 {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(20+h.intn(40)) * time.Millisecond):
			}
		}
		select {
		case <-done:
			return
		default:
		}
		f := pairs[i%len(pairs)]
		h.a.fault(h.t, f.op, f.kind, 1, 0)
		h.faults.Add(1)
	}
}

// queuedFaults is how many injected faults no call has met yet.
func (h *chaos) queuedFaults() int {
	var queued struct {
		Faults []any `json:"faults"`
	}
	h.a.control(h.t, http.MethodGet, "/simulator/faults", nil, &queued)
	return len(queued.Faults)
}

// disrupt kills a server (SIGKILL) and restarts it on its database, and
// cuts PostgreSQL, in a random order, as many times as the plan says,
// while the stories are played (and their operations settled).
func (h *chaos) disrupt(plan chaosPlan) {
	kills, cuts := plan.kills, plan.cuts
	for kills > 0 || cuts > 0 {
		time.Sleep(time.Duration(800+h.intn(1200)) * time.Millisecond)
		if kills > 0 && (cuts == 0 || h.intn(2) == 0) {
			kills--
			i := h.intn(len(h.envs))
			h.mu.Lock()
			victim := h.procs[i]
			h.mu.Unlock()
			victim.kill()
			h.kills.Add(1)
			next := startProc(h.t, h.envs[i])
			h.mu.Lock()
			h.procs[i] = next
			h.mu.Unlock()
			continue
		}
		cuts--
		plan.proxy.cut()
		h.cuts.Add(1)
		time.Sleep(time.Duration(1000+h.intn(1500)) * time.Millisecond)
		plan.proxy.restore()
	}
}

// waitSettled follows a payment with WatchPayment until the stream ends
// (the payment and its operations are final), re-opening it when a
// server or the database is unavailable, for at most within.
func (h *chaos) waitSettled(sessionID string, within time.Duration) {
	ctx, cancel := context.WithTimeout(h.t.Context(), max(within, time.Second))
	defer cancel()
	for {
		stream, err := h.client().WatchPayment(ctx, &pb.WatchPaymentRequest{CheckoutSessionId: sessionID})
		for err == nil {
			_, err = stream.Recv()
		}
		if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded || ctx.Err() != nil {
			p := h.get(sessionID)
			h.mismatch("payment %s did not settle in time (its watch did not end): %s, operations pending in %v", sessionID, describe(p), p.GetRefunds())
			return
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if !retryable(status.Code(err)) {
			h.t.Errorf("watch %s: %v", sessionID, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (h *chaos) get(sessionID string) *pb.Payment {
	for range 50 {
		r, err := h.client().GetPayment(h.t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_CheckoutSessionId{CheckoutSessionId: sessionID}})
		if err == nil {
			return r.GetPayment()
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.t.Fatalf("GetPayment %s keeps failing", sessionID)
	return nil
}

// cents parses an amount ("" is zero).
func cents(s string) int64 {
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.MinInt64
	}
	return int64(math.Round(f * 100))
}

var chargeStates = map[pb.ChargeState]string{
	pb.ChargeState_CHARGE_STATE_AUTHORIZATION_INITIATED: "AuthorizationInitiated",
	pb.ChargeState_CHARGE_STATE_AUTHORIZED:              "Authorized",
	pb.ChargeState_CHARGE_STATE_CAPTURE_INITIATED:       "CaptureInitiated",
	pb.ChargeState_CHARGE_STATE_CAPTURED:                "Captured",
	pb.ChargeState_CHARGE_STATE_CANCELED:                "Canceled",
	pb.ChargeState_CHARGE_STATE_DECLINED:                "Declined",
}

var refundStates = map[pb.RefundState]string{
	pb.RefundState_REFUND_STATE_REFUND_INITIATED: "RefundInitiated",
	pb.RefundState_REFUND_STATE_REFUNDED:         "Refunded",
	pb.RefundState_REFUND_STATE_DECLINED:         "Declined",
}

// compareWithAmazon checks one payment as stored against Amazon's charge
// permission, charges and refunds, and against the answers its
// operations got.
func (h *chaos) compareWithAmazon(first *pb.Payment) {
	t, ctx := h.t, h.t.Context()
	p := h.get(first.GetCheckoutSessionId())
	order := p.GetOrderId()
	var ops []*chaosOp
	for _, op := range h.ops {
		if op.order == order {
			ops = append(ops, op)
		}
	}

	var captured, refunded, used int64
	amazonCharges := map[string]string{} // charge ID -> Amazon's state
	amazonCaptures := map[string]int64{} // charge ID -> Amazon's capture
	for _, c := range p.GetCharges() {
		ac, _, err := h.a.client.GetCharge(ctx, c.GetChargeId())
		if err != nil {
			t.Fatalf("Amazon's charge %s: %v", c.GetChargeId(), err)
		}
		state := ac.StatusDetails.State
		amazonCharges[c.GetChargeId()] = state
		var aCapture, aRefunded string
		if ac.CaptureAmount != nil {
			aCapture = ac.CaptureAmount.Amount
		}
		if ac.RefundedAmount != nil {
			aRefunded = ac.RefundedAmount.Amount
		}
		if chargeStates[c.GetState()] != state || cents(c.GetCaptureAmount().GetAmount()) != cents(aCapture) ||
			cents(c.GetRefundedAmount().GetAmount()) != cents(aRefunded) {
			h.mismatch("%s: charge %s stored %s captured %q refunded %q; Amazon: %s captured %q refunded %q",
				order, c.GetChargeId(), c.GetState(), c.GetCaptureAmount().GetAmount(), c.GetRefundedAmount().GetAmount(), state, aCapture, aRefunded)
		}
		captured += cents(aCapture)
		amazonCaptures[c.GetChargeId()] = cents(aCapture)
		refunded += cents(aRefunded)
		switch state {
		case "Captured":
			used += cents(aCapture)
		case "Canceled", "Declined":
		default:
			used += cents(ac.ChargeAmount.Amount)
		}
	}
	if cents(p.GetCapturedAmount().GetAmount()) != captured || cents(p.GetRefundedAmount().GetAmount()) != refunded {
		h.mismatch("%s: payment shows %q captured %q refunded; Amazon's charges %d and %d cents",
			order, p.GetCapturedAmount().GetAmount(), p.GetRefundedAmount().GetAmount(), captured, refunded)
	}

	// The permission's balance accounts for exactly the charges the
	// service knows: Amazon holds no charge it does not.
	if cp, _, err := h.a.client.GetChargePermission(ctx, p.GetChargePermissionId()); err != nil {
		t.Fatalf("Amazon's charge permission %s: %v", p.GetChargePermissionId(), err)
	} else if cp.Limits != nil && cp.Limits.AmountLimit != nil && cp.Limits.AmountBalance != nil {
		if want := max(cents(cp.Limits.AmountLimit.Amount)-used, 0); cents(cp.Limits.AmountBalance.Amount) != want {
			h.mismatch("%s: Amazon's permission balance is %s, the charges the service knows leave %d cents: Amazon holds a charge the service does not",
				order, cp.Limits.AmountBalance.Amount, want)
		}
	}

	// Refunds: each stored refund is Amazon's, and Amazon's refunded
	// amounts are the stored refunds'.
	var storedRefunded int64
	refundIDs := map[string]*pb.Refund{}
	for _, r := range p.GetRefunds() {
		refundIDs[r.GetRefundId()] = r
		ar, _, err := h.a.client.GetRefund(ctx, r.GetRefundId())
		if err != nil {
			t.Fatalf("Amazon's refund %s: %v", r.GetRefundId(), err)
		}
		if refundStates[r.GetState()] != ar.StatusDetails.State || ar.RefundAmount == nil || cents(ar.RefundAmount.Amount) != cents(r.GetRefundAmount().GetAmount()) ||
			ar.ChargeID != r.GetChargeId() {
			h.mismatch("%s: refund %s stored %s %s of %s; Amazon: %+v", order, r.GetRefundId(), r.GetState(), r.GetRefundAmount().GetAmount(), r.GetChargeId(), ar)
		}
		if r.GetState() == pb.RefundState_REFUND_STATE_REFUNDED {
			storedRefunded += cents(r.GetRefundAmount().GetAmount())
		}
	}
	if storedRefunded != refunded {
		h.mismatch("%s: the stored refunds sum to %d cents; Amazon refunded %d: a refund applied twice or unknown", order, storedRefunded, refunded)
	}

	// One effect per operation, attributed to it.
	capturedBy := 0
	acceptedRefunds := 0
	createdCharges := map[string]bool{}
	for _, op := range ops {
		ans := op.final()
		switch op.kind {
		case "capture":
			if !ans.ok() {
				continue
			}
			capturedBy++
			if got := amazonCaptures[first.GetChargeId()]; got != cents(op.amount) || cents(ans.amount) != got {
				h.mismatch("%s: capture %s of %s answered %s (%s captured); Amazon captured %d cents", order, op.key, op.amount, ans, ans.amount, got)
			}
		case "refund":
			if !ans.ok() {
				continue
			}
			acceptedRefunds++
			if r := refundIDs[ans.id]; r == nil || cents(r.GetRefundAmount().GetAmount()) != cents(op.amount) {
				h.mismatch("%s: refund %s of %s answered %s with refund %q, stored as %v", order, op.key, op.amount, ans, ans.id, r)
			}
		case "create_charge":
			if !ans.ok() {
				continue
			}
			createdCharges[ans.id] = true
			if _, ok := amazonCharges[ans.id]; !ok {
				h.mismatch("%s: create charge %s answered %s with charge %q, which the payment does not hold", order, op.key, ans, ans.id)
			}
		case "cancel":
			if ans.ok() && amazonCharges[p.GetChargeId()] != "Canceled" {
				h.mismatch("%s: cancel answered %s; Amazon's charge is %s", order, ans, amazonCharges[p.GetChargeId()])
			}
		case "close":
			if ans.ok() {
				for id, st := range amazonCharges {
					if st == "Authorized" || st == "AuthorizationInitiated" {
						h.mismatch("%s: close with cancel_pending_charges answered %s; Amazon's charge %s is %s", order, ans, id, st)
					}
				}
			}
		}
	}
	if first.GetChargeState() == pb.ChargeState_CHARGE_STATE_AUTHORIZED {
		if st := amazonCharges[first.GetChargeId()]; st == "Captured" && capturedBy != 1 || st != "Captured" && capturedBy != 0 {
			h.mismatch("%s: %d capture operations answered applied; Amazon's charge %s is %s", order, capturedBy, first.GetChargeId(), st)
		}
	}
	if acceptedRefunds != len(p.GetRefunds()) {
		h.mismatch("%s: %d refunds were accepted, %d are stored", order, acceptedRefunds, len(p.GetRefunds()))
	}
	if want := len(createdCharges) + min(len(first.GetChargeId()), 1); len(p.GetCharges()) != want {
		h.mismatch("%s: %d charges stored, want %d (the first and %d created)", order, len(p.GetCharges()), want, len(createdCharges))
	}
}
