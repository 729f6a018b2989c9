package grpcserver

import (
	"context"
	"errors"
	"time"
)

// notReady is a readiness check's error with the reason probes show.
type notReady struct {
	reason string
	err    error
}

func (e *notReady) Error() string { return e.reason + ": " + e.err.Error() }
func (e *notReady) Unwrap() error { return e.err }

// NotReady wraps a readiness check's err with the reason /readyz shows
// ("database unreachable"); FollowReadiness uses "not ready" for errors
// without one.
func NotReady(reason string, err error) error {
	return &notReady{reason: reason, err: err}
}

// reasonOf is the reason NotReady gave err.
func reasonOf(err error) string {
	if nr, ok := errors.AsType[*notReady](err); ok {
		return nr.reason
	}
	return "not ready"
}

// CheckReadiness runs check once, with at most timeout, and sets
// readiness from its answer: SERVING when it succeeds, NOT_SERVING with
// its reason (see NotReady) when it fails. It reports whether check
// succeeded. A change is logged.
func (s *Server) CheckReadiness(ctx context.Context, check func(context.Context) error, timeout time.Duration) bool {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	err := check(cctx)
	cancel()
	if ctx.Err() != nil {
		return err == nil
	}
	was, wasReason := s.Readiness()
	if err == nil {
		s.setReady(true, "")
		if !was && wasReason != "starting" {
			s.logger.Info("dependencies ready again: health SERVING")
		}
		return true
	}
	s.setReady(false, reasonOf(err))
	if was || wasReason == "starting" {
		s.logger.Error("not ready: health NOT_SERVING until the check passes again", "reason", reasonOf(err), "error", err.Error())
	}
	return false
}

// FollowReadiness keeps readiness in step with check, called every
// interval (CheckReadiness): NOT_SERVING while it fails (the store cannot
// be reached, Amazon Pay rejects the credentials), SERVING again once it
// succeeds, so load balancers stop sending calls that can only fail. It
// returns when ctx ends; once shutdown has started readiness stays
// NOT_SERVING whatever check says.
func (s *Server) FollowReadiness(ctx context.Context, check func(context.Context) error, interval, timeout time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		s.CheckReadiness(ctx, check, timeout)
	}
}
