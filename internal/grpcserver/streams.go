package grpcserver

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/rpcstatus"
)

// healthFlushTimeout bounds how long a health Watch stream is kept open at
// shutdown for its NOT_SERVING update to reach the watcher.
const healthFlushTimeout = time.Second

// errShuttingDown is what a stream ended by shutdown reports: the client
// should re-open it, and another replica will serve it.
func errShuttingDown() error {
	return statusError(codes.Unavailable, "server is shutting down; retry the call",
		pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN, rpcstatus.RetryInfo(0))
}

// streamRegistry tracks open server streams so shutdown can end them:
// grpc.Server.GracefulStop waits for every handler to return, and a
// WatchPayment handler only returns when its payment settles or its context
// ends.
type streamRegistry struct {
	mu       sync.Mutex // guards draining, next and open
	draining bool
	next     uint64
	open     map[uint64]*trackedStream

	// perConn caps the open streams of one connection, and maxWatches the
	// open WatchPayment streams of the server; watches counts them.
	perConn, maxWatches int64
	watches             atomic.Int64
}

type trackedStream struct {
	ctx    context.Context
	cancel context.CancelFunc
	// byShutdown is set before cancel when the stream is ended by shutdown,
	// so the handler's error can be replaced with SHUTTING_DOWN.
	byShutdown atomic.Bool
	// For health Watch streams only: the last status sent and a signal on
	// every send, so shutdown can wait until NOT_SERVING went out.
	healthWatch bool
	lastHealth  atomic.Int32
	sent        chan struct{}
}

func newStreamRegistry(perConn, maxWatches int) *streamRegistry {
	return &streamRegistry{open: make(map[uint64]*trackedStream), perConn: int64(perConn), maxWatches: int64(maxWatches)}
}

// connTagger gives every connection a counter of its open streams in the
// context its streams derive from.
type connTagger struct{}

type connStreamsKey struct{}

func (connTagger) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connStreamsKey{}, new(atomic.Int64))
}
func (connTagger) HandleConn(context.Context, stats.ConnStats)                     {}
func (connTagger) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (connTagger) HandleRPC(context.Context, stats.RPCStats)                       {}

// acquire counts a new stream against the limits, or refuses it with
// RESOURCE_EXHAUSTED. release undoes a successful acquire.
func (r *streamRegistry) acquire(ctx context.Context, method string) (release func(), err error) {
	conn, _ := ctx.Value(connStreamsKey{}).(*atomic.Int64)
	if conn != nil && conn.Add(1) > r.perConn {
		conn.Add(-1)
		return nil, rpcstatus.Error(codes.ResourceExhausted,
			fmt.Sprintf("this connection already has %d open streams; close some, or use another connection", r.perConn),
			pb.ErrorReason_ERROR_REASON_TOO_MANY_STREAMS_ON_CONNECTION, map[string]string{"limit": strconv.FormatInt(r.perConn, 10)})
	}
	watch := method == pb.PaymentCompletionService_WatchPayment_FullMethodName
	if watch && r.watches.Add(1) > r.maxWatches {
		r.watches.Add(-1)
		if conn != nil {
			conn.Add(-1)
		}
		return nil, rpcstatus.Error(codes.ResourceExhausted,
			fmt.Sprintf("the server already serves %d WatchPayment streams; retry later or poll with GetPayment", r.maxWatches),
			pb.ErrorReason_ERROR_REASON_TOO_MANY_WATCHES, map[string]string{"limit": strconv.FormatInt(r.maxWatches, 10)})
	}
	return func() {
		if watch {
			r.watches.Add(-1)
		}
		if conn != nil {
			conn.Add(-1)
		}
	}, nil
}

func (r *streamRegistry) add(t *trackedStream) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return 0, false
	}
	r.next++
	r.open[r.next] = t
	return r.next, true
}

func (r *streamRegistry) remove(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, id)
}

// drain refuses new streams and ends the open ones. Health Watch streams are
// ended once they have sent NOT_SERVING (or after healthFlushTimeout), so
// watchers learn about the shutdown before their stream closes.
func (r *streamRegistry) drain() {
	r.mu.Lock()
	r.draining = true
	open := make([]*trackedStream, 0, len(r.open))
	for _, t := range r.open {
		open = append(open, t)
	}
	r.mu.Unlock()

	for _, t := range open {
		t.byShutdown.Store(true)
		if !t.healthWatch {
			t.cancel()
			continue
		}
		// Ends when the NOT_SERVING update is out, the stream ends by
		// itself, or the flush timeout passes, whichever comes first.
		go func() {
			defer t.cancel()
			timer := time.NewTimer(healthFlushTimeout)
			defer timer.Stop()
			for t.lastHealth.Load() != int32(healthpb.HealthCheckResponse_NOT_SERVING) {
				select {
				case <-t.sent:
				case <-t.ctx.Done():
					return
				case <-timer.C:
					return
				}
			}
		}()
	}
}

// interceptor registers each stream for the duration of its handler and
// gives the handler a context that drain can cancel.
func (r *streamRegistry) interceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	t := &trackedStream{ctx: ctx, cancel: cancel}
	t.lastHealth.Store(-1)
	if info.FullMethod == healthpb.Health_Watch_FullMethodName {
		t.healthWatch = true
		t.sent = make(chan struct{}, 1)
	}
	id, ok := r.add(t)
	if !ok {
		return errShuttingDown()
	}
	defer r.remove(id)
	release, err := r.acquire(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	defer release()

	err = handler(srv, &trackedServerStream{ServerStream: ss, t: t})
	if t.byShutdown.Load() {
		// Even a nil error is replaced: WatchPayment ends with OK only when
		// the payment is final, and a stream cut by shutdown must tell the
		// client to re-open it, not that the outcome is settled.
		return errShuttingDown()
	}
	return err
}

type trackedServerStream struct {
	grpc.ServerStream
	t *trackedStream
}

func (s *trackedServerStream) Context() context.Context { return s.t.ctx }

func (s *trackedServerStream) SendMsg(m any) error {
	err := s.ServerStream.SendMsg(m)
	if s.t.healthWatch && err == nil {
		if resp, ok := m.(*healthpb.HealthCheckResponse); ok {
			s.t.lastHealth.Store(int32(resp.GetStatus()))
			select {
			case s.t.sent <- struct{}{}:
			default:
			}
		}
	}
	return err
}
