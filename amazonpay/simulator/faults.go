package simulator

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Fault kinds accepted by POST /simulator/faults.
const (
	// FaultHTTP500 answers 500 InternalServerError without applying.
	FaultHTTP500 = "http500"
	// FaultHTTP503 answers 503 ServiceUnavailable without applying.
	FaultHTTP503 = "http503"
	// FaultHTTP429 answers 429 TooManyRequests without applying.
	FaultHTTP429 = "http429"
	// FaultLatency waits, then applies and answers normally.
	FaultLatency = "latency"
	// FaultReset closes the connection without applying.
	FaultReset = "reset"
	// FaultTimeout never answers and applies nothing; the connection is
	// closed when the client gives up (or after MaxTimeoutHold).
	FaultTimeout = "timeout"
	// FaultLostResponse applies the operation, then closes the connection
	// before answering: Amazon did the work, the client never hears of it.
	FaultLostResponse = "lostResponse"
	// FaultSlowResponse applies the operation at once, then holds the answer
	// for the fault's latency: the window in which a caller that crashes
	// has had its request applied without learning the result.
	FaultSlowResponse = "slowResponse"
)

// errTooManyRequests is Amazon's answer to a throttled request (no
// Retry-After: Amazon documents none and the SDKs read none).
var errTooManyRequests = errorf(429, "TooManyRequests", "The request was throttled. Retry with exponential backoff.")

// MaxTimeoutHold bounds how long a timeout fault holds a request.
const MaxTimeoutHold = 5 * time.Minute

var faultKinds = map[string]bool{
	FaultHTTP500: true, FaultHTTP503: true, FaultHTTP429: true, FaultLatency: true,
	FaultReset: true, FaultTimeout: true, FaultLostResponse: true, FaultSlowResponse: true,
}

// holdAnswer waits d before an applied operation is answered; it reports
// false when the client went away (or the simulator closed) meanwhile.
func (s *Simulator) holdAnswer(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	case <-t.C:
		return true
	}
}

// fault is an injected failure for the next Count calls of an operation.
type fault struct {
	Operation string        `json:"operation"`
	Kind      string        `json:"kind"`
	Count     int           `json:"count"`
	Latency   time.Duration `json:"-"`
}

// takeFaultLocked consumes one use of the first fault queued for op.
func (s *Simulator) takeFaultLocked(op string) *fault {
	q := s.faults[op]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	f.Count--
	if f.Count <= 0 {
		s.faults[op] = q[1:]
		if len(s.faults[op]) == 0 {
			delete(s.faults, op)
		}
	}
	return f
}

// preFault performs the part of a fault that comes before the operation.
// It reports whether the request has been fully handled (not applied).
func (s *Simulator) preFault(w http.ResponseWriter, r *http.Request, f *fault) bool {
	switch f.Kind {
	case FaultHTTP500:
		writeError(w, errorf(500, "InternalServerError", "An internal server error occurred. Retry the request."))
		return true
	case FaultHTTP503:
		writeError(w, errorf(503, "ServiceUnavailable", "The service is temporarily unavailable. Retry the request."))
		return true
	case FaultHTTP429:
		writeError(w, errTooManyRequests)
		return true
	case FaultReset:
		dropConnection(w)
		return true
	case FaultTimeout:
		t := time.NewTimer(MaxTimeoutHold)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-s.done:
		case <-t.C:
		}
		dropConnection(w)
		return true
	case FaultLatency:
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			// The client gave up while Amazon was slow; the work was
			// still not started, so nothing is applied.
			dropConnection(w)
			return true
		case <-s.done:
		case <-t.C:
		}
	}
	return false
}

// dropConnection ends the exchange without an answer. On HTTP/1 the
// connection is hijacked and closed abruptly (RST); on HTTP/2, where
// hijacking is impossible, the stream is aborted.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*tls.Conn); ok {
		// Skip the TLS close_notify: a dropped connection sends nothing.
		conn = tc.NetConn()
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}
