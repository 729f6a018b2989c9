package simulator

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Certificate files Serve keeps in its certDir: the TLS certificate (its
// own CA) and the RSA certificate notifications are signed with, issued by
// that CA.
const (
	CertFile            = "simulator-cert.pem"
	KeyFile             = "simulator-key.pem"
	SigningCertFile     = "sns-signing-cert.pem"
	SigningKeyFile      = "sns-signing-key.pem"
	signingCertValidity = 24 * time.Hour
)

// Server is an HTTPS server started by Serve.
type Server struct {
	// URL is the base URL, e.g. "https://127.0.0.1:8443".
	URL string
	// Addr is the bound host:port.
	Addr string
	// CertPEM is the self-signed certificate the server presents.
	CertPEM []byte
	// CertPool trusts CertPEM, for clients (tls.Config.RootCAs).
	CertPool *x509.CertPool

	srv      *http.Server
	done     chan struct{}
	err      error
	stopOnce sync.Once
}

// Serve listens on addr (":0" style ports allowed) and serves h over HTTPS
// with a self-signed certificate for 127.0.0.1, ::1 and localhost. The
// certificate is loaded from certDir or created there (as CertFile and
// KeyFile) so other programs can trust it; certDir "" keeps it in memory.
// The server stops when ctx ends or Close/Shutdown is called.
//
// When h is a *Simulator, Serve also gives it its public URL and a
// notification signing certificate issued by the TLS certificate (kept in
// certDir as SigningCertFile and SigningKeyFile), so a receiver that trusts
// CertPEM can fetch the SigningCertURL and verify the chain.
func Serve(ctx context.Context, addr string, h http.Handler, certDir string) (*Server, error) {
	certPEM, keyPEM, err := loadOrCreateCert(certDir)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("simulator: load certificate: %w", err)
	}
	sim, _ := h.(*Simulator)
	var signer *notifySigner
	if sim != nil {
		if signer, err = loadOrCreateSigner(certDir, cert); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: listen: %w", err)
	}
	s := &Server{
		URL:      "https://" + ln.Addr().String(),
		Addr:     ln.Addr().String(),
		CertPEM:  certPEM,
		CertPool: pool,
		done:     make(chan struct{}),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		},
	}
	if sim != nil {
		sim.notify.setSigner(signer)
		sim.SetPublicURL(s.URL)
	}
	go func() {
		defer close(s.done)
		if err := s.srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Shutdown(sctx)
		case <-s.done:
		}
	}()
	return s, nil
}

// Shutdown stops accepting connections and waits for active requests (up
// to ctx), then closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		err = s.srv.Shutdown(ctx)
		if err != nil {
			_ = s.srv.Close()
		}
	})
	<-s.done
	if err != nil {
		return fmt.Errorf("simulator: shutdown: %w", err)
	}
	return s.err
}

// Close stops the server at once.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { _ = s.srv.Close() })
	<-s.done
	return s.err
}

// Done is closed when the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// loadOrCreateCert returns the certificate and key kept in dir, creating
// them when missing or expiring within a day.
func loadOrCreateCert(dir string) (certPEM, keyPEM []byte, err error) {
	if dir != "" {
		certPEM, err1 := os.ReadFile(filepath.Join(dir, CertFile))
		keyPEM, err2 := os.ReadFile(filepath.Join(dir, KeyFile))
		if err1 == nil && err2 == nil && certUsable(certPEM, keyPEM) {
			return certPEM, keyPEM, nil
		}
	}
	certPEM, keyPEM, err = newSelfSignedCert()
	if err != nil {
		return nil, nil, err
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("simulator: create cert dir: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(dir, KeyFile), keyPEM, 0o600); err != nil {
			return nil, nil, fmt.Errorf("simulator: write key: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(dir, CertFile), certPEM, 0o644); err != nil {
			return nil, nil, fmt.Errorf("simulator: write certificate: %w", err)
		}
	}
	return certPEM, keyPEM, nil
}

func certUsable(certPEM, keyPEM []byte) bool {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil || len(pair.Certificate) == 0 {
		return false
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	return err == nil && time.Until(c.NotAfter) > 24*time.Hour
}

// newSelfSignedCert creates an ECDSA P-256 certificate that is its own CA,
// so it can be added to a trust store as is (x509.CertPool,
// NODE_EXTRA_CA_CERTS).
func newSelfSignedCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("simulator: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("simulator: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Amazon Pay simulator", Organization: []string{"paymentcompletion"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("simulator: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("simulator: encode key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// loadOrCreateSigner returns the notification signing key and certificate
// kept in dir when they are still issued by ca's certificate, else issues
// new ones (and keeps them there).
func loadOrCreateSigner(dir string, ca tls.Certificate) (*notifySigner, error) {
	caCert := ca.Leaf
	if caCert == nil {
		c, err := x509.ParseCertificate(ca.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("simulator: parse certificate: %w", err)
		}
		caCert = c
	}
	caKey, ok := ca.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("simulator: certificate key cannot sign")
	}
	if dir != "" {
		if sg := loadSigner(dir, caCert); sg != nil {
			return sg, nil
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("simulator: notification signing key: %w", err)
	}
	sg, err := newNotifySigner(key, caCert, caKey)
	if err != nil {
		return nil, err
	}
	if dir != "" {
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		if err := writeFileAtomic(filepath.Join(dir, SigningKeyFile), keyPEM, 0o600); err != nil {
			return nil, fmt.Errorf("simulator: write signing key: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(dir, SigningCertFile), sg.certPEM, 0o644); err != nil {
			return nil, fmt.Errorf("simulator: write signing certificate: %w", err)
		}
	}
	return sg, nil
}

// loadSigner reads the signing pair from dir; nil unless it is usable and
// issued by ca.
func loadSigner(dir string, ca *x509.Certificate) *notifySigner {
	certPEM, err1 := os.ReadFile(filepath.Join(dir, SigningCertFile))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, SigningKeyFile))
	if err1 != nil || err2 != nil {
		return nil
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil || cert.CheckSignatureFrom(ca) != nil || time.Until(cert.NotAfter) < signingCertValidity {
		return nil
	}
	key, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
	if err != nil || !key.PublicKey.Equal(cert.PublicKey) {
		return nil
	}
	return signerFromDER(key, cb.Bytes)
}
