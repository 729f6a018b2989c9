package main

import (
	"context"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/paymentcompletion/paymentcompletion/internal/store/postgres/pgtest"
)

// tcpProxy forwards connections from its own loopback port to target; Cut
// closes the listener and every forwarded connection, as an outage would,
// and Restore listens on the same port again.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	lis    net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.Cut)
	return p
}

func (p *tcpProxy) listen(addr string) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.lis, p.addr = lis, lis.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
}

func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis != nil {
		_ = p.lis.Close()
		p.lis = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) Restore() { p.listen(p.addr) }

// TestHealthFollowsStore runs the server on PostgreSQL reached through a
// proxy, cuts the proxy and restores it: health turns NOT_SERVING while the
// store cannot be reached and SERVING again once it can.
func TestHealthFollowsStore(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()

	dir := t.TempDir()
	addr := freeAddr(t)
	logs, _ := startRun(t, []string{"-listen-addr", addr, "-data-dir", filepath.Join(dir, "data"), "-simulator-addr", "127.0.0.1:0",
		"-database-url", u.String(), "-health-check-interval", "200ms", "-embedded-simulator=true"}, nil)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(wctx, &healthpb.HealthCheckRequest{Service: "paymentcompletion.v1.PaymentCompletionService"}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	waitStatus := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		timer := time.AfterFunc(30*time.Second, cancel)
		defer timer.Stop()
		for {
			resp, err := watch.Recv()
			if err != nil {
				t.Fatalf("health watch ended waiting for %v (it never came within 30s?): %v\n%s", want, err, logs.String())
			}
			if resp.GetStatus() == want {
				return
			}
		}
	}
	waitStatus(healthpb.HealthCheckResponse_SERVING)
	proxy.Cut()
	waitStatus(healthpb.HealthCheckResponse_NOT_SERVING)
	proxy.Restore()
	waitStatus(healthpb.HealthCheckResponse_SERVING)
}
