package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener hands out in-memory connections (net.Pipe), whose deadlines
// run on the synctest bubble's clock, so the listeners' real timeouts can be
// waited out without waiting.
type pipeListener struct {
	conns     chan net.Conn
	closeOnce sync.Once
	closed    chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// dial returns the client's end of a new connection.
func (l *pipeListener) dial(t *testing.T) net.Conn {
	t.Helper()
	client, server := net.Pipe()
	l.conns <- server
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// TestHTTPListenersCloseSlowAndIdleConnections holds connections open to
// the metrics and debug listeners the way a stalled or idle client would:
// each must be closed by the server within its timeout.
func TestHTTPListenersCloseSlowAndIdleConnections(t *testing.T) {
	t.Parallel()
	body := []byte("# metrics\n" + string(make([]byte, 64<<10)))
	listeners := []struct {
		name  string
		path  string
		serve func(ctx context.Context, lis net.Listener) error
	}{
		{"metrics", "/metrics", func(ctx context.Context, lis net.Listener) error {
			return serveMetrics(ctx, lis, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
		}},
		{"debug", "/debug/pprof/", serveDebug},
	}
	clients := []struct {
		name string
		// within is the longest the server may keep the connection.
		within time.Duration
		// hold behaves as the client; it returns once the server has
		// closed the connection (a read sees EOF).
		hold func(t *testing.T, c net.Conn, path string)
	}{
		{"slow_headers", 5 * time.Second, func(t *testing.T, c net.Conn, path string) {
			if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n"); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
		}},
		{"idle_after_request", 2 * time.Minute, func(t *testing.T, c net.Conn, path string) {
			if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			expectClosed(t, br)
		}},
		{"never_reads_response", 5 * time.Minute, func(t *testing.T, c net.Conn, path string) {
			if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			// The server's write blocks until its write timeout;
			// afterwards it must have given up and closed, so that
			// nothing of the response is left to read.
			time.Sleep(5*time.Minute + time.Second)
			expectClosed(t, c)
		}},
	}
	for _, l := range listeners {
		for _, cl := range clients {
			t.Run(l.name+"/"+cl.name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					lis := newPipeListener()
					ctx, cancel := context.WithCancel(t.Context())
					done := make(chan error, 1)
					go func() { done <- l.serve(ctx, lis) }()
					defer func() {
						cancel()
						if err := <-done; err != nil {
							t.Errorf("serve: %v", err)
						}
					}()
					start := time.Now()
					cl.hold(t, lis.dial(t), l.path)
					if held := time.Since(start); held > cl.within+time.Second {
						t.Errorf("the connection stayed open %v, want at most %v", held, cl.within)
					}
				})
			})
		}
	}
}

// expectClosed reads until the server closes the connection; any data read
// means the server was still serving it.
func expectClosed(t *testing.T, r io.Reader) {
	t.Helper()
	n, err := r.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want the server to have closed the connection", n, err)
	}
}
