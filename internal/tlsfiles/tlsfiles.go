// Package tlsfiles serves TLS with a certificate, key and optional client CA
// bundle read from files, and reads them again when they change, so that
// certificates can be rotated without a restart.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files names the PEM files of a TLS listener.
type Files struct {
	// CertFile and KeyFile hold the server's certificate chain and key.
	CertFile, KeyFile string
	// ClientCAFile, when set, holds the CAs that sign client certificates:
	// clients must then present a certificate one of them signed (mTLS).
	ClientCAFile string
}

// Source keeps the certificate and client CAs of Files current. Each new
// connection checks whether a file's modification time or size changed and,
// if so, loads them again; a load that fails (a rotation caught half-way,
// a bad file) keeps what was loaded before and logs the error once.
type Source struct {
	files Files
	log   *slog.Logger

	mu      sync.Mutex
	stamps  [3]stamp
	cert    *tls.Certificate
	pool    *x509.CertPool
	failed  [3]stamp // stamps of the last failed load, logged once
	checked time.Time
}

type stamp struct {
	mod  time.Time
	size int64
}

// minCheckInterval bounds how often the files are looked at, so a burst of
// new connections costs one stat each at most once per interval.
const minCheckInterval = 100 * time.Millisecond

// New loads the files; an error names the file that failed.
func New(f Files, logger *slog.Logger) (*Source, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("tlsfiles: certificate and key files are both required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{files: f, log: logger}
	st, err := s.stat()
	if err != nil {
		return nil, err
	}
	if err := s.load(st); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Source) paths() [3]string {
	return [3]string{s.files.CertFile, s.files.KeyFile, s.files.ClientCAFile}
}

func (s *Source) stat() ([3]stamp, error) {
	var st [3]stamp
	for i, p := range s.paths() {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return st, fmt.Errorf("tlsfiles: %w", err)
		}
		st[i] = stamp{fi.ModTime(), fi.Size()}
	}
	return st, nil
}

// load reads the files; the caller holds s.mu or owns s.
func (s *Source) load(st [3]stamp) error {
	cert, err := tls.LoadX509KeyPair(s.files.CertFile, s.files.KeyFile)
	if err != nil {
		return fmt.Errorf("tlsfiles: %s, %s: %w", s.files.CertFile, s.files.KeyFile, err)
	}
	var pool *x509.CertPool
	if s.files.ClientCAFile != "" {
		pem, err := os.ReadFile(s.files.ClientCAFile)
		if err != nil {
			return fmt.Errorf("tlsfiles: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tlsfiles: %s holds no PEM certificate", s.files.ClientCAFile)
		}
	}
	s.cert, s.pool, s.stamps = &cert, pool, st
	return nil
}

// current returns the certificate and client CAs, loading them again first
// if a file changed.
func (s *Source) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.checked) < minCheckInterval {
		return s.cert, s.pool
	}
	s.checked = now
	st, err := s.stat()
	switch {
	case err != nil:
		if s.failed != st {
			s.log.Error("TLS files unreadable; serving the certificate loaded before", "error", err.Error())
			s.failed = st
		}
	case st != s.stamps:
		if err := s.load(st); err != nil {
			if s.failed != st {
				s.log.Error("TLS files invalid; serving the certificate loaded before", "error", err.Error())
				s.failed = st
			}
			break
		}
		s.log.Info("TLS certificate reloaded", "cert_file", s.files.CertFile, "not_after", s.cert.Leaf.NotAfter)
	}
	return s.cert, s.pool
}

// ServerConfig returns a TLS configuration for a listener: TLS 1.2 or later,
// the current certificate, and, with a client CA file, verified client
// certificates required.
func (s *Source) ServerConfig() *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool := s.current()
		c := base.Clone()
		c.GetConfigForClient = nil
		c.Certificates = []tls.Certificate{*cert}
		if pool != nil {
			c.ClientCAs = pool
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
		return c, nil
	}
	return base
}

// NotAfter returns the expiry of the certificate being served.
func (s *Source) NotAfter() time.Time {
	cert, _ := s.current()
	return cert.Leaf.NotAfter
}
