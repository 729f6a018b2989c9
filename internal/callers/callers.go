// Package callers knows who may call the service and which methods each
// caller may use. A caller is recognised by the SHA-256 hash of its bearer
// token or by the subject or a subject alternative name of its verified
// client certificate. The set is read from a JSON file and can be reloaded
// while the service runs.
package callers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// AllMethods in a caller's methods allows every method.
const AllMethods = "*"

// emptyTokenHash is the SHA-256 of the empty string: what
// `printf %s "$TOKEN" | sha256sum` prints when TOKEN is unset. A callers
// file holding it would let a call with an empty bearer token in.
var emptyTokenHash = sha256.Sum256(nil)

// Caller is one named caller and the methods it may call.
type Caller struct {
	// Name identifies the caller in logs and errors.
	Name    string
	methods map[string]bool
	all     bool

	tokenHash [sha256.Size]byte
	hasToken  bool
	subject   string
	san       string
}

// Allowed reports whether the caller may call method (its short name, e.g.
// "CompleteCheckout").
func (c *Caller) Allowed(method string) bool { return c.all || c.methods[method] }

// Set is an immutable set of callers.
type Set struct {
	callers []*Caller
}

// Len returns the number of callers.
func (s *Set) Len() int { return len(s.callers) }

// ByToken returns the caller whose token hash matches token. Every caller's
// hash is compared, in constant time each, so the time taken does not tell
// which caller, or how much of a hash, matched. An empty token matches no
// caller, whatever the set holds.
func (s *Set) ByToken(token string) (*Caller, bool) {
	if token == "" {
		return nil, false
	}
	sum := sha256.Sum256([]byte(token))
	var found *Caller
	for _, c := range s.callers {
		if c.hasToken && subtle.ConstantTimeCompare(sum[:], c.tokenHash[:]) == 1 {
			found = c
		}
	}
	return found, found != nil
}

// ByCertificate returns the caller of a verified client certificate: the
// first whose client_cert_subject equals the certificate's subject (in its
// RFC 2253 form, e.g. "CN=support-tool,O=Example"), or whose client_cert_san
// equals one of its DNS names, URIs or email addresses.
func (s *Set) ByCertificate(cert *x509.Certificate) (*Caller, bool) {
	subject := cert.Subject.String()
	sans := slices.Concat(cert.DNSNames, cert.EmailAddresses)
	for _, u := range cert.URIs {
		sans = append(sans, u.String())
	}
	for _, c := range s.callers {
		if c.subject != "" && c.subject == subject {
			return c, true
		}
		if c.san != "" && slices.Contains(sans, c.san) {
			return c, true
		}
	}
	return nil, false
}

// CertificateCallers returns the names of the callers recognised by client
// certificate (client_cert_subject or client_cert_san), in file order. A
// server that asks for no client certificate can never recognise them.
func (s *Set) CertificateCallers() []string {
	var names []string
	for _, c := range s.callers {
		if c.subject != "" || c.san != "" {
			names = append(names, c.Name)
		}
	}
	return names
}

// fileCaller is one entry of the callers file.
type fileCaller struct {
	Name              string   `json:"name"`
	TokenSHA256       string   `json:"token_sha256"`
	ClientCertSubject string   `json:"client_cert_subject"`
	ClientCertSAN     string   `json:"client_cert_san"`
	Methods           []string `json:"methods"`
}

// Parse reads a callers file:
//
//	{"callers": [
//	  {"name": "storefront", "token_sha256": "<hex>", "methods": ["CompleteCheckout", "GetPayment"]},
//	  {"name": "support", "client_cert_subject": "CN=support-tool", "methods": ["*"]}
//	]}
//
// Each caller needs a unique name, at least one way to be recognised
// (token_sha256, client_cert_subject, client_cert_san) and at least one
// method; methods must be "*" or names in known. Unknown fields are errors,
// so that a misspelt setting is not silently ignored.
func Parse(data []byte, known []string) (*Set, error) {
	var f struct {
		Callers []fileCaller `json:"callers"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("callers: %w", err)
	}
	if len(f.Callers) == 0 {
		return nil, errors.New("callers: no callers listed")
	}
	var (
		errs   []error
		s      = &Set{}
		names  = map[string]bool{}
		hashes = map[[sha256.Size]byte]string{}
	)
	for i, fc := range f.Callers {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("callers[%d] (%q): %s", i, fc.Name, fmt.Sprintf(format, args...)))
		}
		c := &Caller{Name: fc.Name, methods: map[string]bool{}, subject: fc.ClientCertSubject, san: fc.ClientCertSAN}
		switch {
		case fc.Name == "":
			fail("name is required")
		case names[fc.Name]:
			fail("name is used twice")
		case strings.ContainsFunc(fc.Name, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
			fail("name must be printable ASCII without spaces")
		}
		names[fc.Name] = true
		if fc.TokenSHA256 != "" {
			b, err := hex.DecodeString(fc.TokenSHA256)
			switch {
			case err != nil || len(b) != sha256.Size:
				fail("token_sha256 must be 64 hex digits (sha256sum of the token)")
			case [sha256.Size]byte(b) == emptyTokenHash:
				fail("token_sha256 is the hash of an empty token (was the token variable unset when it was hashed?)")
			default:
				copy(c.tokenHash[:], b)
				c.hasToken = true
				if other, dup := hashes[c.tokenHash]; dup {
					fail("token_sha256 is also %q's", other)
				}
				hashes[c.tokenHash] = fc.Name
			}
		}
		if fc.TokenSHA256 == "" && c.subject == "" && c.san == "" {
			fail("needs token_sha256, client_cert_subject or client_cert_san")
		}
		if len(fc.Methods) == 0 {
			fail("methods is required (use [\"*\"] for every method)")
		}
		for _, m := range fc.Methods {
			switch {
			case m == AllMethods:
				c.all = true
			case slices.Contains(known, m):
				c.methods[m] = true
			default:
				fail("unknown method %q (want one of %s, or \"*\")", m, strings.Join(known, ", "))
			}
		}
		s.callers = append(s.callers, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// TokenCaller returns a set of one caller, name, recognised by token and
// allowed every method: the single shared token of AUTH_TOKEN_FILE.
func TokenCaller(name, token string) *Set {
	return &Set{callers: []*Caller{{Name: name, all: true, tokenHash: sha256.Sum256([]byte(token)), hasToken: true}}}
}

// Union returns the callers of a followed by those of b.
func Union(a, b *Set) *Set {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return &Set{callers: slices.Concat(a.callers, b.callers)}
}

// File is a callers file kept current: Watch reloads it when it changes.
// A file that fails to load keeps the set loaded before, and the error is
// logged.
type File struct {
	path  string
	known []string
	extra *Set
	log   *slog.Logger
	cur   atomic.Pointer[Set]
	stamp fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// Open loads the callers file at path; extra (may be nil) is added to every
// set loaded, e.g. the caller of AUTH_TOKEN_FILE.
func Open(path string, known []string, extra *Set, logger *slog.Logger) (*File, error) {
	f := &File{path: path, known: known, extra: extra, log: logger}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) load() error {
	st, err := stampOf(f.path)
	if err != nil {
		return fmt.Errorf("callers: %w", err)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("callers: %w", err)
	}
	s, err := Parse(data, f.known)
	if err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	f.stamp = st
	f.cur.Store(Union(s, f.extra))
	return nil
}

// Current returns the set in force.
func (f *File) Current() *Set { return f.cur.Load() }

// Watch checks the file every interval and reloads it when its modification
// time or size changed, until ctx ends. Checking the file's metadata rather
// than waiting for file system events also follows files replaced through
// symbolic links (mounted secrets).
func (f *File) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f.Check(ctx)
	}
}

// Check reloads the file if it changed since the last load (or the last
// failed attempt).
func (f *File) Check(ctx context.Context) {
	st, err := stampOf(f.path)
	if err == nil && st == f.stamp {
		return
	}
	if err != nil {
		// Logged once until the file is back.
		if f.stamp != (fileStamp{}) {
			f.log.ErrorContext(ctx, "callers file unreadable; keeping the callers loaded before", "file", f.path, "error", err.Error())
		}
		f.stamp = fileStamp{}
		return
	}
	if err := f.load(); err != nil {
		// Remember the bad version so the error is logged once per change.
		f.stamp = st
		f.log.ErrorContext(ctx, "callers file invalid; keeping the callers loaded before", "file", f.path, "error", err.Error())
		return
	}
	f.log.InfoContext(ctx, "callers file reloaded", "file", f.path, "callers", f.Current().Len())
}
