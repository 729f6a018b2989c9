package grpcserver

import (
	"context"
	"time"
)

// FollowReadiness keeps the health status in step with check, which is
// called every interval with at most timeout each: NOT_SERVING while it
// fails (the store cannot be reached), SERVING again once it succeeds, so
// load balancers stop sending calls that can only fail. Each change is
// logged. It returns when ctx ends; once shutdown has started the status
// stays NOT_SERVING whatever check says.
func (s *Server) FollowReadiness(ctx context.Context, check func(context.Context) error, interval, timeout time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	serving := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if ok := err == nil; ok != serving {
			serving = ok
			s.setReady(ok, "database unreachable")
			if ok {
				s.logger.Info("store reachable again: health SERVING")
			} else {
				s.logger.Error("store unreachable: health NOT_SERVING until it answers again", "error", err.Error())
			}
		}
	}
}
