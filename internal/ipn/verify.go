// Package ipn receives Amazon Pay's Instant Payment Notifications, which
// arrive as Amazon SNS HTTP(S) messages. Every message is verified as SNS
// defines it (signature over the canonical string, signing certificate
// fetched from an allowed host and chained to a trusted root, bounded age)
// before anything else is done with it. A verified notification carries
// only IDs: it makes the payment that tracks the object due for a check at
// once, and the tracker reads the object from Amazon Pay as it always
// does. No state is ever taken from a message.
package ipn

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA.
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// SNS message types.
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
	TypeUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// Message is an SNS HTTP(S) message as posted to the endpoint.
type Message struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject"`
	Message          string `json:"Message"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	UnsubscribeURL   string `json:"UnsubscribeURL"`
	SubscribeURL     string `json:"SubscribeURL"`
	Token            string `json:"Token"`

	// subjectSet records whether Subject was present: SNS signs it only
	// then.
	subjectSet bool
}

// ErrMalformed wraps every reason a body is not an SNS message.
var ErrMalformed = errors.New("ipn: malformed message")

// ErrUnverified wraps every reason a well-formed message is not trusted.
var ErrUnverified = errors.New("ipn: message not verified")

// unverifiedError is why a message is not trusted: one of the Reason
// constants (for metrics) and a description (for the log).
type unverifiedError struct{ reason, msg string }

func unverified(reason, msg string) error { return &unverifiedError{reason: reason, msg: msg} }

func (e *unverifiedError) Error() string { return ErrUnverified.Error() + ": " + e.msg }
func (e *unverifiedError) Unwrap() error { return ErrUnverified }

// RefusalReason is the Reason constant of an error of Verify or
// AllowedURL: ReasonUnverified for one that names none (the caller gave
// up while the certificate was fetched).
func RefusalReason(err error) string {
	var u *unverifiedError
	if errors.As(err, &u) {
		return u.reason
	}
	return ReasonUnverified
}

// Parse reads an SNS message and checks that it has every field its type
// is signed over. It does not verify it.
func Parse(body []byte) (*Message, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: a field is not a string", ErrMalformed)
	}
	_, m.subjectSet = raw["Subject"]
	required := []struct{ name, v string }{
		{"Type", m.Type}, {"MessageId", m.MessageID}, {"TopicArn", m.TopicArn}, {"Timestamp", m.Timestamp},
		{"SignatureVersion", m.SignatureVersion}, {"Signature", m.Signature}, {"SigningCertURL", m.SigningCertURL},
	}
	switch m.Type {
	case TypeNotification:
		required = append(required, struct{ name, v string }{"Message", m.Message})
	case TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation:
		required = append(required, struct{ name, v string }{"Message", m.Message},
			struct{ name, v string }{"SubscribeURL", m.SubscribeURL}, struct{ name, v string }{"Token", m.Token})
	case "":
	default:
		return nil, fmt.Errorf("%w: unknown Type", ErrMalformed)
	}
	for _, f := range required {
		if f.v == "" {
			return nil, fmt.Errorf("%w: %s missing", ErrMalformed, f.name)
		}
	}
	return &m, nil
}

// StringToSign is SNS's canonical string of m: "name\nvalue\n" for each
// signed field of its type, in SNS's order (Subject only when present).
func (m *Message) StringToSign() []byte {
	var fields [][2]string
	switch m.Type {
	case TypeNotification:
		fields = append(fields, [2]string{"Message", m.Message}, [2]string{"MessageId", m.MessageID})
		if m.subjectSet {
			fields = append(fields, [2]string{"Subject", m.Subject})
		}
		fields = append(fields, [2]string{"Timestamp", m.Timestamp}, [2]string{"TopicArn", m.TopicArn},
			[2]string{"Type", m.Type})
	default:
		fields = [][2]string{
			{"Message", m.Message}, {"MessageId", m.MessageID}, {"SubscribeURL", m.SubscribeURL},
			{"Timestamp", m.Timestamp}, {"Token", m.Token}, {"TopicArn", m.TopicArn}, {"Type", m.Type},
		}
	}
	var b bytes.Buffer
	for _, f := range fields {
		b.WriteString(f[0])
		b.WriteByte('\n')
		b.WriteString(f[1])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// snsHost is the host of SNS's own signing certificates and subscription
// URLs: sns.<region>.amazonaws.com (and .com.cn in China).
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// certPath is a certificate's path: segments of plain characters, none
// starting with a dot (so no "." or ".."), the last ending in .pem (SNS's
// own are /SimpleNotificationService-<hash>.pem).
var certPath = regexp.MustCompile(`^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+\.pem$`)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// ExtraHosts are hosts (host or host:port, exact) allowed besides
	// sns.<region>.amazonaws.com for SigningCertURL and SubscribeURL, such
	// as the embedded simulator's.
	ExtraHosts []string
	// Roots verify the signing certificate's chain and the TLS of the
	// fetch; nil means the system roots.
	Roots *x509.CertPool
	// TopicArns, when not empty, are the only topics accepted.
	TopicArns []string
	// MaxAge is the oldest a message's Timestamp may be (also how far in
	// the future it may be, for clock skew, at most 5 minutes).
	MaxAge time.Duration
	// Client fetches certificates and subscription URLs; nil builds one
	// over Roots that follows no redirect.
	Client *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SenderNow is the sender's clock, which a message's Timestamp is
	// judged against (default Now). It differs from Now only for a sender
	// on a simulated clock, such as the embedded simulator's manual
	// clock, whose Timestamps are in simulated time; certificates are
	// still judged against Now.
	SenderNow func() time.Time
}

// DefaultMaxAge is VerifierConfig.MaxAge when zero.
const DefaultMaxAge = time.Hour

// maxCertBytes bounds a fetched certificate.
const maxCertBytes = 16 << 10

// failedCertTTL is how long a certificate that could not be fetched or
// verified is not fetched again.
const failedCertTTL = time.Minute

// maxCachedCerts bounds the certificate cache (SNS rotates its
// certificate rarely; only allowed hosts are ever fetched).
const maxCachedCerts = 64

// Verifier verifies SNS messages. It is safe for concurrent use.
type Verifier struct {
	cfg    VerifierConfig
	hosts  map[string]bool
	topics map[string]bool
	client *http.Client

	mu    sync.Mutex
	certs map[string]*certEntry
}

type certEntry struct {
	ready  chan struct{} // closed once key or err is set
	key    *rsa.PublicKey
	err    error
	expiry time.Time // for errors: when to fetch again; for keys: NotAfter
}

// NewVerifier returns a Verifier.
func NewVerifier(cfg VerifierConfig) *Verifier {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SenderNow == nil {
		cfg.SenderNow = cfg.Now
	}
	v := &Verifier{cfg: cfg, hosts: map[string]bool{}, topics: map[string]bool{}, certs: map[string]*certEntry{}}
	for _, h := range cfg.ExtraHosts {
		v.hosts[strings.ToLower(h)] = true
	}
	for _, t := range cfg.TopicArns {
		v.topics[t] = true
	}
	v.client = cfg.Client
	if v.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.TLSClientConfig = tlsConfig(cfg.Roots)
		v.client = &http.Client{
			Transport: tr,
			Timeout:   10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return errors.New("ipn: redirects are not followed")
			},
		}
	}
	return v
}

// AllowedURL reports whether raw is an https URL on an allowed host, with
// nothing that could make the host ambiguous (user info, a bare IP-like
// trick, an empty host). It is the one check for SigningCertURL and
// SubscribeURL.
func (v *Verifier) AllowedURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, unverified(ReasonCertHost, "URL does not parse")
	}
	if u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.Host == "" || u.Fragment != "" {
		return nil, unverified(ReasonCertHost, "URL is not a plain https URL")
	}
	host := strings.ToLower(u.Host)
	if !v.hosts[host] && !snsHost.MatchString(host) {
		return nil, unverified(ReasonCertHost, fmt.Sprintf("host %q is not allowed", host))
	}
	return u, nil
}

// Verify checks m as SNS defines it: allowed topic, bounded age, an
// allowed https SigningCertURL whose certificate chains to a trusted root,
// and a valid signature of the version named over m's canonical string.
func (v *Verifier) Verify(ctx context.Context, m *Message) error {
	if len(v.topics) > 0 && !v.topics[m.TopicArn] {
		return unverified(ReasonTopic, "topic not allowed")
	}
	at, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return unverified(ReasonAge, "Timestamp does not parse")
	}
	now := v.cfg.SenderNow()
	if now.Sub(at) > v.cfg.MaxAge {
		return unverified(ReasonAge, "message older than "+v.cfg.MaxAge.String())
	}
	if at.Sub(now) > min(v.cfg.MaxAge, 5*time.Minute) {
		return unverified(ReasonAge, "Timestamp in the future")
	}
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return unverified(ReasonSignature, "unknown SignatureVersion")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return unverified(ReasonSignature, "Signature is not base64")
	}
	u, err := v.AllowedURL(m.SigningCertURL)
	if err != nil {
		return err
	}
	if !certPath.MatchString(u.EscapedPath()) || u.RawQuery != "" {
		return unverified(ReasonCertHost, "SigningCertURL path is not a certificate's")
	}
	key, err := v.signingKey(ctx, u.String())
	if err != nil {
		return err
	}
	text := m.StringToSign()
	var digest []byte
	if hash == crypto.SHA1 {
		s := sha1.Sum(text) //nolint:gosec // SNS SignatureVersion 1.
		digest = s[:]
	} else {
		s := sha256.Sum256(text)
		digest = s[:]
	}
	if err := rsa.VerifyPKCS1v15(key, hash, digest, sig); err != nil {
		return unverified(ReasonSignature, "bad signature")
	}
	return nil
}

// signingKey returns the public key of the certificate at certURL,
// fetching it once (concurrent callers wait for the one fetch) and keeping
// it until it expires; a failure is remembered for failedCertTTL.
func (v *Verifier) signingKey(ctx context.Context, certURL string) (*rsa.PublicKey, error) {
	now := v.cfg.Now()
	v.mu.Lock()
	e := v.certs[certURL]
	if e != nil {
		select {
		case <-e.ready:
			if now.After(e.expiry) {
				delete(v.certs, certURL)
				e = nil
			}
		default:
		}
	}
	owner := false
	if e == nil {
		if len(v.certs) >= maxCachedCerts {
			for k, old := range v.certs {
				select {
				case <-old.ready:
					delete(v.certs, k)
				default:
				}
				if len(v.certs) < maxCachedCerts {
					break
				}
			}
		}
		e = &certEntry{ready: make(chan struct{})}
		v.certs[certURL] = e
		owner = true
	}
	v.mu.Unlock()
	if owner {
		// The fetch is not the caller's: it outlives a caller that gives
		// up, so the next message finds the certificate.
		key, notAfter, err := v.fetchCert(context.WithoutCancel(ctx), certURL)
		v.mu.Lock()
		e.key, e.err, e.expiry = key, err, notAfter
		if err != nil {
			e.expiry = now.Add(failedCertTTL)
		}
		close(e.ready)
		v.mu.Unlock()
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return e.key, e.err
}

func (v *Verifier) fetchCert(ctx context.Context, certURL string) (*rsa.PublicKey, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, certURL, nil)
	if err != nil {
		return nil, time.Time{}, unverified(ReasonCert, "signing certificate: "+err.Error())
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, time.Time{}, unverified(ReasonCert, "fetch signing certificate: "+err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, unverified(ReasonCert, fmt.Sprintf("fetch signing certificate: status %d", resp.StatusCode))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCertBytes+1))
	if err != nil || len(b) > maxCertBytes {
		return nil, time.Time{}, unverified(ReasonCert, "signing certificate unreadable or too large")
	}
	var certs []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, time.Time{}, unverified(ReasonCert, "signing certificate does not parse")
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, time.Time{}, unverified(ReasonCert, "no certificate at SigningCertURL")
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: v.cfg.Roots, Intermediates: inter, CurrentTime: v.cfg.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, time.Time{}, unverified(ReasonCert, "signing certificate not trusted: "+err.Error())
	}
	key, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, time.Time{}, unverified(ReasonCert, "signing certificate has no RSA key")
	}
	return key, leaf.NotAfter, nil
}
