package grpcserver_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/callers"
	"github.com/paymentcompletion/paymentcompletion/internal/grpcserver"
	"github.com/paymentcompletion/paymentcompletion/internal/logtest"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles"
	"github.com/paymentcompletion/paymentcompletion/internal/tlsfiles/tlstest"
)

// tlsServer serves svc over TLS on a loopback port, with client
// certificates of clientCA required when it is not nil.
type tlsServer struct {
	addr  string
	roots *x509.CertPool
	logs  *logtest.Buffer
}

func startTLS(t *testing.T, dir string, clientCA *tlstest.CA, opts grpcserver.Options) *tlsServer {
	t.Helper()
	ca := tlstest.NewCA(t, dir, "server")
	pair := ca.Server(t, dir, "server", time.Now().Add(time.Hour))
	files := tlsfiles.Files{CertFile: pair.CertFile, KeyFile: pair.Key}
	if clientCA != nil {
		files.ClientCAFile = clientCA.File
	}
	src, err := tlsfiles.New(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.TLS = src.ServerConfig()
	srv, err := grpcserver.New(newFakeService(), opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetServing(true)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return &tlsServer{addr: lis.Addr().String(), roots: roots, logs: logs}
}

// dial connects over TLS, presenting the client certificate p if not nil.
func (s *tlsServer) dial(t *testing.T, p *tlstest.Pair) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
	if p != nil {
		c, err := tls.LoadX509KeyPair(p.CertFile, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func writeCallers(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestCallerPermissions calls every method as each caller over mTLS: by
// token (storefront, limited), by client certificate subject (support,
// everything) and by SAN (auditor, reads only), and checks that a method
// outside a caller's list is PERMISSION_DENIED with ErrorInfo.
func TestCallerPermissions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clientCA := tlstest.NewCA(t, dir, "clients")
	support := clientCA.Client(t, dir, "support-tool", "")
	auditor := clientCA.Client(t, dir, "audit", "auditor.internal")
	stranger := clientCA.Client(t, dir, "stranger", "")
	path := filepath.Join(dir, "callers.json")
	writeCallers(t, path, fmt.Sprintf(`{"callers": [
		{"name": "storefront", "token_sha256": %q, "methods": ["CompleteCheckout", "GetPayment", "WatchPayment"]},
		{"name": "support", "client_cert_subject": "CN=support-tool", "methods": ["*"]},
		{"name": "auditor", "client_cert_san": "auditor.internal", "methods": ["GetPayment", "GetCharge"]}
	]}`, sha256Hex("storefront-token")))
	file, err := callers.Open(path, grpcserver.MethodNames(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, dir, clientCA, grpcserver.Options{Callers: file.Current})

	bearer := func(tok string) context.Context {
		return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
	}
	// Each call reaches the fake service, whose answers are all OK.
	calls := map[string]func(context.Context, pb.PaymentCompletionServiceClient) error{
		"CompleteCheckout": func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.CompleteCheckout(ctx, &pb.CompleteCheckoutRequest{CheckoutSessionId: sessionID, ChargeAmount: usd("1.00"), OrderId: "o"})
			return err
		},
		"GetPayment": func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "o"}})
			return err
		},
		"GetCharge": func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			_, err := c.GetCharge(ctx, &pb.GetChargeRequest{ChargeId: "S01-0000000-0000000-C000000"})
			return err
		},
		"WatchPayment": func(ctx context.Context, c pb.PaymentCompletionServiceClient) error {
			// Ended after its first message, so its log line is written.
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := c.WatchPayment(ctx, &pb.WatchPaymentRequest{CheckoutSessionId: sessionID})
			if err == nil {
				_, err = stream.Recv()
			}
			return err
		},
	}
	tests := []struct {
		name   string
		cert   *tlstest.Pair
		token  string
		method string
		want   codes.Code
		caller string
	}{
		{"storefront_completes", &stranger, "storefront-token", "CompleteCheckout", codes.OK, "storefront"},
		{"storefront_watches", &stranger, "storefront-token", "WatchPayment", codes.OK, "storefront"},
		{"storefront_may_not_read_charges", &stranger, "storefront-token", "GetCharge", codes.PermissionDenied, "storefront"},
		{"support_by_subject_may_do_everything", &support, "", "GetCharge", codes.OK, "support"},
		{"support_watches", &support, "", "WatchPayment", codes.OK, "support"},
		{"auditor_by_san_reads", &auditor, "", "GetPayment", codes.OK, "auditor"},
		{"auditor_may_not_complete", &auditor, "", "CompleteCheckout", codes.PermissionDenied, "auditor"},
		{"auditor_may_not_watch", &auditor, "", "WatchPayment", codes.PermissionDenied, "auditor"},
		{"unknown_certificate", &stranger, "", "GetPayment", codes.Unauthenticated, ""},
		{"unknown_token_decides_over_a_known_certificate", &support, "wrong", "GetPayment", codes.Unauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tt.token != "" {
				ctx = bearer(tt.token)
			}
			rid := "rid-" + tt.name
			ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", rid)
			err := calls[tt.method](ctx, pb.NewPaymentCompletionServiceClient(srv.dial(t, tt.cert)))
			if got := status.Code(err); got != tt.want {
				t.Fatalf("%s: code %v (%v), want %v", tt.method, got, err, tt.want)
			}
			if tt.want == codes.PermissionDenied {
				info, _ := details(t, err)
				if info.GetReason() != "PERMISSION_DENIED" || info.GetMetadata()["caller"] != tt.caller || info.GetMetadata()["method"] != tt.method {
					t.Errorf("ErrorInfo = %v, want reason PERMISSION_DENIED naming %s and %s", info, tt.caller, tt.method)
				}
			}
			if tt.want == codes.Unauthenticated {
				if info, _ := details(t, err); info.GetReason() != "UNAUTHENTICATED" {
					t.Errorf("ErrorInfo = %v, want reason UNAUTHENTICATED", info)
				}
			}
			// The call's log line names the caller and the request ID.
			line := waitForLine(t, srv.logs, func(m map[string]any) bool { return m["request_id"] == rid })
			if tt.caller != "" && line["caller"] != tt.caller {
				t.Errorf("log line %v: caller %v, want %s", line, line["caller"], tt.caller)
			}
		})
	}

	t.Run("no_client_certificate_fails_the_handshake", func(t *testing.T) {
		t.Parallel()
		_, err := pb.NewPaymentCompletionServiceClient(srv.dial(t, nil)).GetPayment(bearer("storefront-token"),
			&pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "o"}})
		if status.Code(err) != codes.Unavailable {
			t.Errorf("without a client certificate: %v, want UNAVAILABLE (handshake refused)", err)
		}
	})
	t.Run("health_open_to_any_certificate_holder", func(t *testing.T) {
		t.Parallel()
		resp, err := healthpb.NewHealthClient(srv.dial(t, &stranger)).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health = %v, %v; want SERVING", resp, err)
		}
	})
}

// waitForLine returns the first log line for which match holds, waiting for
// it to be written (the finish line follows the response).
func waitForLine(t *testing.T, logs *logtest.Buffer, match func(map[string]any) bool) map[string]any {
	t.Helper()
	for {
		for _, l := range logs.Lines(t) {
			if match(l) {
				return l
			}
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("no matching log line in:\n%s", logs.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestCallersReload changes the callers file under a running server: a new
// caller is let in, a broken file keeps the callers loaded before.
func TestCallersReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "callers.json")
	writeCallers(t, path, fmt.Sprintf(`{"callers": [{"name": "a", "token_sha256": %q, "methods": ["GetPayment"]}]}`, sha256Hex("tok-a")))
	logs := &logtest.Buffer{}
	file, err := callers.Open(path, grpcserver.MethodNames(), nil, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, dir, nil, grpcserver.Options{Callers: file.Current, AuthToken: "legacy-token"})
	client := pb.NewPaymentCompletionServiceClient(srv.dial(t, nil))
	get := func(tok string) codes.Code {
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
		_, err := client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "o"}})
		return status.Code(err)
	}
	if got := get("tok-a"); got != codes.OK {
		t.Fatalf("a before reload: %v", got)
	}
	if got := get("tok-b"); got != codes.Unauthenticated {
		t.Fatalf("b before reload: %v", got)
	}
	if got := get("legacy-token"); got != codes.OK {
		t.Fatalf("AUTH_TOKEN_FILE's caller: %v", got)
	}

	writeCallers(t, path, fmt.Sprintf(`{"callers": [{"name": "b", "token_sha256": %q, "methods": ["*"]}]}`, sha256Hex("tok-b")))
	file.Check(t.Context())
	if got := get("tok-b"); got != codes.OK {
		t.Errorf("b after reload: %v", got)
	}
	if got := get("tok-a"); got != codes.Unauthenticated {
		t.Errorf("a after its removal: %v", got)
	}

	writeCallers(t, path, `{"callers": [{"name": "c", "methods": ["Typo"]}]}`)
	file.Check(t.Context())
	if got := get("tok-b"); got != codes.OK {
		t.Errorf("b after a broken file: %v, want the previous callers kept", got)
	}
	if got := get("legacy-token"); got != codes.OK {
		t.Errorf("AUTH_TOKEN_FILE's caller after reloads: %v", got)
	}
	waitForLine(t, logs, func(m map[string]any) bool {
		return m["msg"] == "callers file invalid; keeping the callers loaded before"
	})
}

// TestRequestID checks that a caller's x-request-id is echoed in the
// response headers, and that calls without one get a fresh one.
func TestRequestID(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, transport string) {
		h := start(t, transport, newFakeService(), grpcserver.Options{}, false)
		call := func(ctx context.Context) string {
			var hdr metadata.MD
			if _, err := h.client.GetPayment(ctx, &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "o"}}, grpc.Header(&hdr)); err != nil {
				t.Fatal(err)
			}
			if v := hdr.Get("x-request-id"); len(v) == 1 {
				return v[0]
			}
			t.Fatalf("response headers %v: want one x-request-id", hdr)
			return ""
		}
		if got := call(metadata.AppendToOutgoingContext(t.Context(), "x-request-id", "req-42")); got != "req-42" {
			t.Errorf("echoed %q, want req-42", got)
		}
		a, b := call(t.Context()), call(t.Context())
		if a == "" || a == b {
			t.Errorf("generated request IDs %q, %q: want distinct, non-empty", a, b)
		}
		if got := call(metadata.AppendToOutgoingContext(t.Context(), "x-request-id", "has space")); got == "has space" {
			t.Errorf("an unprintable request ID was kept")
		}
		waitForLine(t, h.logs, func(m map[string]any) bool { return m["request_id"] == "req-42" && m["grpc.code"] == "OK" })

		// A refused call returns it too (in the trailers-only answer's
		// headers).
		locked := start(t, transport, newFakeService(), grpcserver.Options{AuthToken: "tok"}, false)
		var hdr metadata.MD
		_, err := locked.client.GetPayment(metadata.AppendToOutgoingContext(t.Context(), "x-request-id", "refused-1"),
			&pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "o"}}, grpc.Header(&hdr))
		if status.Code(err) != codes.Unauthenticated || len(hdr.Get("x-request-id")) != 1 || hdr.Get("x-request-id")[0] != "refused-1" {
			t.Errorf("refused call: %v, headers %v; want UNAUTHENTICATED with x-request-id refused-1", err, hdr)
		}

		// Streams return it in their headers too.
		stream, err := h.client.WatchPayment(metadata.AppendToOutgoingContext(t.Context(), "x-request-id", "watch-1"), &pb.WatchPaymentRequest{CheckoutSessionId: sessionID})
		if err != nil {
			t.Fatal(err)
		}
		hdr, err = stream.Header()
		if err != nil || len(hdr.Get("x-request-id")) != 1 || hdr.Get("x-request-id")[0] != "watch-1" {
			t.Errorf("stream headers %v, %v: want x-request-id watch-1", hdr, err)
		}
	})
}
