package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// A failed TLS handshake reaches the caller as UNAVAILABLE, the status of a
// service that is down, and retrying cannot fix it. The CLI keeps the TLS
// errors its connection met, so that it can tell the two apart and name the
// setting to fix.

// tlsErrors collects the TLS errors of one invocation's connections.
type tlsErrors struct {
	mu   sync.Mutex
	errs []error
}

func (e *tlsErrors) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) < 8 {
		e.errs = append(e.errs, err)
	}
}

func (e *tlsErrors) all() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

// watchedCredentials records the handshake errors of the credentials it
// wraps, and the read errors of the connections they secure: with TLS 1.3
// a server refuses a client certificate (or its absence) only after the
// client's handshake has completed, on the first read.
type watchedCredentials struct {
	credentials.TransportCredentials
	seen *tlsErrors
}

func (w watchedCredentials) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := w.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		w.seen.add(err)
		return nil, nil, err
	}
	return watchedConn{Conn: conn, seen: w.seen}, info, nil
}

func (w watchedCredentials) Clone() credentials.TransportCredentials {
	return watchedCredentials{TransportCredentials: w.TransportCredentials.Clone(), seen: w.seen}
}

type watchedConn struct {
	net.Conn
	seen *tlsErrors
}

func (c watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && remoteAlert(err) != "" {
		c.seen.add(err)
	}
	return n, err
}

// remoteAlert is the text of the TLS alert the peer sent ("tls: certificate
// required"), or "" when err is not one. crypto/tls reports a received alert
// as a net.OpError "remote error" around an unexported alert type.
func remoteAlert(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return op.Err.Error()
	}
	return ""
}

// speaksTLS reports whether a TLS handshake with addr gets as far as the
// server's answer. It only asks whether the port speaks TLS: the
// certificate is not checked and nothing is sent after the handshake.
type speaksTLSFunc func(ctx context.Context, addr string) bool

func speaksTLS(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return remoteAlert(err) != ""
	}
	conn.Close()
	return true
}

// tlsProblem explains a call error caused by TLS: what went wrong and the
// flag or server setting to fix. It returns "" for any other error.
func (g globals) tlsProblem(ctx context.Context, callErr error, seen []error, probe speaksTLSFunc) string {
	if c := status.Code(callErr); c != codes.Unavailable && c != codes.DeadlineExceeded {
		return ""
	}
	if len(status.Convert(callErr).Details()) > 0 {
		// The service answered (its errors carry an ErrorInfo): the
		// connection worked.
		return ""
	}
	usesTLS := g.tls || g.caFile != "" || g.certFile != ""
	for _, err := range seen {
		var (
			header   tls.RecordHeaderError
			unknown  x509.UnknownAuthorityError
			hostname x509.HostnameError
			invalid  x509.CertificateInvalidError
			verify   *tls.CertificateVerificationError
		)
		switch {
		case errors.As(err, &header):
			return fmt.Sprintf("the service at %s does not serve TLS: drop -tls, -ca-file, -cert-file and -key-file, or give the server TLS_CERT_FILE and TLS_KEY_FILE", g.addr)
		case errors.As(err, &unknown):
			if g.caFile != "" {
				return fmt.Sprintf("the service's certificate is not signed by a CA in -ca-file %s: set -ca-file to the CA that signed the server's TLS_CERT_FILE", g.caFile)
			}
			return "the service's certificate is not signed by a CA this system trusts: set -ca-file to the CA that signed the server's TLS_CERT_FILE"
		case errors.As(err, &hostname):
			return fmt.Sprintf("the service's certificate is not valid for %s (%v): give -addr a name or address the certificate lists", g.addr, hostname.Error())
		case errors.As(err, &invalid):
			return fmt.Sprintf("the service's certificate is not valid (%v): the server's TLS_CERT_FILE needs a current certificate", invalid.Error())
		case errors.As(err, &verify):
			return fmt.Sprintf("the service's certificate was refused (%v): check -ca-file and the server's TLS_CERT_FILE", verify.Err)
		}
		if alert := remoteAlert(err); alert != "" {
			switch {
			case g.certFile == "" && strings.Contains(alert, "certificate"):
				return "the service requires a client certificate (" + alert + "): set -cert-file and -key-file to a certificate signed by a CA in the server's TLS_CLIENT_CA_FILE"
			case strings.Contains(alert, "certificate") || strings.Contains(alert, "unknown ca"):
				return fmt.Sprintf("the service refused the client certificate -cert-file %s (%s): it must be current and signed by a CA in the server's TLS_CLIENT_CA_FILE", g.certFile, alert)
			default:
				return fmt.Sprintf("the service ended the TLS handshake (%s): check -tls, -ca-file, -cert-file and the server's TLS settings", alert)
			}
		}
	}
	if !usesTLS && probe(ctx, g.addr) {
		return fmt.Sprintf("the service at %s serves TLS: add -tls (and -ca-file when its certificate is not signed by a CA this system trusts)", g.addr)
	}
	return ""
}
