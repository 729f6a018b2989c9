package ipn

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve serves h on lis until ctx ends, then shuts down within a few
// seconds. With certFile and keyFile set it serves TLS (Amazon Pay requires
// an https endpoint). Its timeouts keep slow senders from holding
// connections; it shares nothing with the gRPC listener.
func Serve(ctx context.Context, lis net.Listener, h http.Handler, certFile, keyFile string) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(lis, certFile, keyFile)
			return
		}
		errc <- srv.Serve(lis)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// A connection still busy (or opened and not yet read: Shutdown
		// waits 5 s for those) is cut: its notification goes
		// unacknowledged, so SNS delivers it again. A normal stop.
		_ = srv.Close()
		err = nil
	}
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}
