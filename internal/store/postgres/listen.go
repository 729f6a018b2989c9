package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnection backoff of ListenChanges, and how long a LISTEN connection may
// stay silent before it is checked (a half-open TCP connection would
// otherwise wait forever).
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 10 * time.Second
	listenIdleCheck  = 30 * time.Second
)

// ListenChanges calls fn with the checkout session ID of every payment
// change committed by any replica (created, transitioned, rescheduled or
// deleted; claims are not announced). It LISTENs on a dedicated connection
// and, when that connection is lost, reconnects with backoff; since
// notifications sent meanwhile are lost, it then calls fn("") once so the
// subscriber re-reads everything it follows. fn("") is likewise called
// if the first connection attempt failed. fn runs on the listening
// goroutine, one call at a time; it should return quickly.
//
// ListenChanges blocks until ctx ends and then returns nil; connection
// failures are retried, never returned.
func (s *Store) ListenChanges(ctx context.Context, fn func(checkoutSessionID string)) error {
	backoff := listenMinBackoff
	resync := false
	for {
		connected := s.listen(ctx, fn, resync)
		if ctx.Err() != nil {
			return nil
		}
		resync = true
		if connected {
			backoff = listenMinBackoff
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listen runs one LISTEN connection until it fails or ctx ends, and reports
// whether LISTEN took effect. Failures are not returned: the caller retries
// every one of them the same way.
func (s *Store) listen(ctx context.Context, fn func(string), resync bool) (connected bool) {
	conn, err := pgx.ConnectConfig(ctx, s.listenConfig.Copy())
	if err != nil {
		return false
	}
	defer func() {
		s.listenPID.Store(0)
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ChangeChannel}.Sanitize()); err != nil {
		return false
	}
	s.listenPID.Store(conn.PgConn().PID())
	if resync {
		fn("")
	}
	for {
		waitCtx, cancel := context.WithTimeout(ctx, s.listenIdleCheck)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			fn(n.Payload)
		case ctx.Err() != nil:
			return true
		case waitCtx.Err() != nil:
			// Silent for a while: make sure the server is still there.
			pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return true
			}
		default:
			return true
		}
	}
}
