package amazonpay

import (
	"bytes"
	"context"
	"crypto/hkdf"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Client calls the Amazon Pay API v2. It is safe for concurrent use; create
// one per merchant key and reuse it so connections are pooled.
type Client struct {
	signer         *Signer
	region         string // x-amz-pay-region: na, eu or jp
	origin         string // scheme://host[:port]
	host           string // x-amz-pay-host
	basePath       string // [endpoint path][/live|/sandbox]/v2
	http           *http.Client
	retry          RetryPolicy
	attemptTimeout time.Duration
	now            func() time.Time
	log            *slog.Logger
	observer       CallObserver
	userAgent      string
}

// CallObserver watches the client's calls. It must be safe for concurrent
// use and quick: it runs on every call.
type CallObserver interface {
	// CallStarted is told that operation (e.g. "CompleteCheckoutSession")
	// starts. The context it returns is used for the call's attempts (it
	// may carry a trace span); done is called once, when the call has
	// ended, with how it went. The error, if any, is the call's; observers
	// must not record its text where buyer data would be out of place.
	CallStarted(ctx context.Context, operation string) (_ context.Context, done func(CallInfo, error))
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	region, err := ResolveRegion(cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("amazonpay: %w", err)
	}
	signer, err := NewSigner(cfg.PublicKeyID, cfg.PrivateKey, cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	retry, err := cfg.Retry.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("amazonpay: %w", err)
	}
	if cfg.AttemptTimeout < 0 {
		return nil, errors.New("amazonpay: attempt timeout must not be negative")
	}
	c := &Client{
		signer:         signer,
		region:         region,
		origin:         "https://" + regionHosts[region],
		host:           regionHosts[region],
		http:           cfg.HTTPClient,
		retry:          retry,
		attemptTimeout: cfg.AttemptTimeout,
		now:            cfg.Now,
		log:            cfg.Logger,
		observer:       cfg.Observer,
		userAgent:      "paymentcompletion-amazonpay/1 (Go " + runtime.Version() + ")",
	}
	if cfg.Endpoint != "" {
		u, err := parseEndpoint(cfg.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("amazonpay: endpoint: %w", err)
		}
		c.origin = u.Scheme + "://" + u.Host
		c.host = u.Host
		c.basePath = u.EscapedPath()
	}
	switch {
	case IsEnvironmentSpecificKeyID(cfg.PublicKeyID):
		// Amazon infers the environment from the key ID.
	case cfg.Sandbox:
		c.basePath += "/sandbox"
	default:
		c.basePath += "/live"
	}
	c.basePath += "/v2"
	if c.http == nil {
		c.http = newHTTPClient(cfg.RootCAs)
	}
	if c.attemptTimeout == 0 {
		c.attemptTimeout = defaultAttemptTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// newHTTPClient returns the default HTTP client: a pool that keeps up to 256
// idle and 512 open connections to the one Amazon Pay host (hundreds of
// concurrent calls without re-handshaking), TLS 1.2 or later as Amazon
// requires, HTTP/2 when offered, and no redirects (a signed request must go
// exactly where it was signed for).
func newHTTPClient(roots *x509.CertPool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.MaxConnsPerHost = 512
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ForceAttemptHTTP2 = true
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CloseIdleConnections closes the idle pooled connections, e.g. at shutdown.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Region returns the region code sent in x-amz-pay-region.
func (c *Client) Region() string { return c.region }

// BaseURL returns the URL every resource path is appended to, e.g.
// "https://pay-api.amazon.com/v2".
func (c *Client) BaseURL() string { return c.origin + c.basePath }

// CallInfo describes how a call went, also when it failed.
type CallInfo struct {
	// StatusCode is the final HTTP status (200, 201, 202, ...), 0 if none.
	StatusCode int
	// RequestID is the x-amz-pay-request-id of the final response.
	RequestID string
	// Attempts is the number of attempts made.
	Attempts int
	// Latency is the duration of the whole call, retries included.
	Latency time.Duration
}

// CallOption adjusts one call.
type CallOption func(*callOptions)

type callOptions struct {
	idempotencyKey string
	headers        [][2]string
	pacer          Pacer
	err            error
}

// Pacer paces the attempts of calls, for example a client-side rate limit
// per operation: the client asks it before each attempt (retries included)
// and tells it every answer, so that a throttled answer can slow the next
// attempts of every caller.
type Pacer interface {
	// Wait returns nil when an attempt of the operation op may be sent. An
	// error holds the attempt back: the first attempt fails unsent with a
	// *TransportError wrapping the error; a retry is not made, and the
	// last answer is the call's.
	Wait(ctx context.Context, op string) error
	// Answered reports an attempt's HTTP status (0: no answer) and
	// Retry-After (0: none).
	Answered(op string, status int, retryAfter time.Duration)
}

// WithPacer paces the call's attempts with p.
func WithPacer(p Pacer) CallOption {
	return func(o *callOptions) { o.pacer = p }
}

// WithIdempotencyKey sets the x-amz-pay-idempotency-key of a call. Keys are
// 1 to 32 characters of [A-Za-z0-9_-]; an invalid key fails the call before
// anything is sent. Amazon honours keys on POST only.
func WithIdempotencyKey(key string) CallOption {
	return func(o *callOptions) {
		if err := ValidateIdempotencyKey(key); err != nil {
			o.err = errors.Join(o.err, err)
			return
		}
		o.idempotencyKey = key
	}
}

// WithHeader adds an unsigned request header, e.g.
// x-amz-pay-simulation-code in the sandbox (the PHP SDK does not sign it
// either). The signed headers, Authorization, Host and Content-Length cannot
// be set this way; trying fails the call before anything is sent.
func WithHeader(name, value string) CallOption {
	return func(o *callOptions) {
		lower := strings.ToLower(name)
		switch {
		case !isToken(name):
			o.err = errors.Join(o.err, fmt.Errorf("amazonpay: invalid header name %q", name))
		case strings.ContainsAny(value, "\r\n\x00"):
			o.err = errors.Join(o.err, fmt.Errorf("amazonpay: header %s: invalid value", lower))
		case isReservedHeader(lower):
			o.err = errors.Join(o.err, fmt.Errorf("amazonpay: header %s is set by the client", lower))
		default:
			o.headers = append(o.headers, [2]string{name, value})
		}
	}
}

func isReservedHeader(lower string) bool {
	switch lower {
	case "authorization", "host", "content-length", "transfer-encoding", "connection":
		return true
	}
	for _, h := range signedHeaderSet {
		if lower == h {
			return true
		}
	}
	return false
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// ValidateIdempotencyKey checks Amazon's rule for idempotency keys: 1 to 32
// characters of [A-Za-z0-9_-].
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > 32 {
		return fmt.Errorf("amazonpay: idempotency key must be 1 to 32 characters, got %d", len(key))
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("amazonpay: idempotency key may only contain A-Z a-z 0-9 _ -, got %q", key)
		}
	}
	return nil
}

// IdempotencyKey derives a deterministic idempotency key for a business
// operation on an object, so that repeating the operation (after a crash,
// timeout or restart) reuses the key and Amazon can recognise the repeat.
//
// Derivation: the first 24 bytes of
// SHA-256("amazonpay-idempotency-v1" NUL operation NUL id), encoded as
// unpadded base64url: always exactly 32 characters of [A-Za-z0-9_-]. Keys
// are scoped per merchant account by Amazon and kept indefinitely, and
// object IDs are unique per merchant, so (operation, id) pairs do not
// collide. Changing the derivation changes every key; bump the version
// string only together with a migration plan.
func IdempotencyKey(operation, id string) string {
	h := sha256.New()
	h.Write([]byte("amazonpay-idempotency-v1\x00"))
	h.Write([]byte(operation))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:24])
}

// randomIdempotencyKey returns 26 random base32 characters (130 bits).
func randomIdempotencyKey() string { return crand.Text() }

// ErrAttemptTimeout is the cause (inside a TransportError) of an attempt
// that exceeded Config.AttemptTimeout. It is distinct from the caller's
// context.DeadlineExceeded on purpose: the caller's deadline did not pass.
var ErrAttemptTimeout = errors.New("amazonpay: attempt timed out")

// maxResponseBytes bounds a response body; Amazon's objects are a few KiB.
const maxResponseBytes = 4 << 20

// call describes one API operation.
type call struct {
	op       string // operation name, for errors and logs
	method   string
	resource string // path below /v2, escaped
	body     any    // marshalled once; nil for no body
	// key is the idempotency key used unless the caller sets one.
	key string
}

// attemptResult is the outcome of one attempt.
type attemptResult struct {
	status    int
	requestID string
	header    http.Header
	body      []byte
	err       error // no response obtained
	notSent   bool  // err happened before the request can have reached the server
	permanent bool  // err will not go away by retrying (e.g. certificate errors)
}

// maxSignatureAge is how long a signed request is reused: by a prepared
// call's first attempt and by retries. Amazon Pay checks x-amz-pay-date
// against its clock (the official SDKs retry the same signed request), so a
// signature is reused only while it is fresh; after that the attempt is
// signed again.
const maxSignatureAge = time.Minute

// preparedCall is a call with its options applied, its body encoded and,
// once signed, the signed headers its attempts reuse while they are fresh.
type preparedCall struct {
	cl   call
	path string
	// wirePath and query are the path and query as net/http sends them,
	// which is what the signature must cover.
	wirePath, query string
	key             string
	body            []byte
	o               callOptions

	header   http.Header // signed headers (Authorization included), or nil
	signedAt time.Time
}

// prepare applies the options of a call and encodes its body; nothing is
// sent and nothing is signed.
func (c *Client) prepare(cl call, opts []CallOption) (*preparedCall, error) {
	p := &preparedCall{cl: cl, path: c.basePath + cl.resource, key: cl.key}
	u, err := url.Parse(c.origin + p.path)
	if err != nil {
		return nil, invalid(cl.op, err)
	}
	p.wirePath, p.query = u.EscapedPath(), u.RawQuery
	for _, opt := range opts {
		opt(&p.o)
	}
	if p.o.err != nil {
		return nil, invalid(cl.op, p.o.err)
	}
	if p.o.idempotencyKey != "" {
		p.key = p.o.idempotencyKey
	}
	if cl.body != nil {
		var err error
		if p.body, err = json.Marshal(cl.body); err != nil {
			return nil, invalid(cl.op, fmt.Errorf("encode request: %w", err))
		}
	}
	return p, nil
}

// signedHeader returns the headers of p's next attempt: the ones signed
// before while they are fresh, else newly signed ones.
func (c *Client) signedHeader(p *preparedCall) (http.Header, error) {
	now := c.now()
	if p.header != nil && now.Sub(p.signedAt) < maxSignatureAge {
		return p.header, nil
	}
	h := http.Header{}
	h[http.CanonicalHeaderKey(HeaderAccept)] = []string{"application/json"}
	h[http.CanonicalHeaderKey(HeaderContentType)] = []string{"application/json"}
	h[http.CanonicalHeaderKey(HeaderDate)] = []string{now.UTC().Format(DateFormat)}
	h[http.CanonicalHeaderKey(HeaderHost)] = []string{c.host}
	h[http.CanonicalHeaderKey(HeaderRegion)] = []string{c.region}
	if p.key != "" {
		h[http.CanonicalHeaderKey(HeaderIdempotencyKey)] = []string{p.key}
	}
	auth, err := c.signer.Authorization(p.cl.method, p.wirePath, p.query, h, p.body)
	if err != nil {
		return nil, err
	}
	h.Set("Authorization", auth)
	// Added after signing, so that only the documented set is signed.
	h.Set("User-Agent", c.userAgent)
	for _, kv := range p.o.headers {
		if strings.EqualFold(kv[0], "User-Agent") {
			h.Set(kv[0], kv[1]) // replaces ours rather than adding a second
			continue
		}
		h.Add(kv[0], kv[1])
	}
	p.header, p.signedAt = h, now
	return h, nil
}

// do runs a call with retries and decodes a success body into out.
func (c *Client) do(ctx context.Context, cl call, out any, opts []CallOption) (CallInfo, error) {
	p, err := c.prepare(cl, opts)
	if err != nil {
		return CallInfo{}, err
	}
	return c.send(ctx, p, out)
}

// send runs a prepared call with retries and decodes a success body into
// out, telling the observer.
func (c *Client) send(ctx context.Context, p *preparedCall, out any) (CallInfo, error) {
	if c.observer == nil {
		return c.sendAttempts(ctx, p, out)
	}
	ctx, done := c.observer.CallStarted(ctx, p.cl.op)
	info, err := c.sendAttempts(ctx, p, out)
	done(info, err)
	return info, err
}

func (c *Client) sendAttempts(ctx context.Context, p *preparedCall, out any) (CallInfo, error) {
	start := time.Now()
	cl, path, key := p.cl, p.path, p.key
	info := CallInfo{}

	var (
		last      attemptResult
		maybeSent bool // some attempt may have reached the server
		// maybeApplied: some attempt before the current one may have been
		// applied (no answer, or one that does not prove otherwise).
		maybeApplied bool
	)
	if pacer := p.o.pacer; pacer != nil {
		if err := pacer.Wait(ctx, cl.op); err != nil {
			info.Latency = time.Since(start)
			if ctx.Err() != nil {
				return info, contextError(ctx, cl.method, path, 0, false, nil)
			}
			return info, &TransportError{Err: err, method: cl.method, path: path}
		}
	}
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			info.Latency = time.Since(start)
			return info, contextError(ctx, cl.method, path, info.Attempts, maybeSent, last.err)
		}
		timeout := min(c.attemptTimeout, c.retry.MaxElapsed-time.Since(start))
		attemptStart := time.Now()
		var res attemptResult
		if h, err := c.signedHeader(p); err != nil {
			res = attemptResult{err: err, notSent: true, permanent: true}
		} else {
			res = c.attempt(ctx, cl.method, path, p.body, h, timeout)
		}
		info.Attempts = attempt
		info.StatusCode, info.RequestID = res.status, res.requestID
		if res.err == nil || !res.notSent {
			maybeSent = true
		}
		c.logAttempt(ctx, cl, path, attempt, res, time.Since(attemptStart))
		if pacer := p.o.pacer; pacer != nil {
			if res.err != nil {
				pacer.Answered(cl.op, 0, 0)
			} else {
				pacer.Answered(cl.op, res.status, parseRetryAfter(res.header.Get("Retry-After")))
			}
		}

		if res.err != nil && ctx.Err() != nil {
			info.Latency = time.Since(start)
			return info, contextError(ctx, cl.method, path, attempt, maybeSent, res.err)
		}
		if res.err == nil && res.status >= 200 && res.status < 300 {
			info.Latency = time.Since(start)
			if out != nil && len(bytes.TrimSpace(res.body)) > 0 {
				if err := json.Unmarshal(res.body, out); err != nil {
					return info, fmt.Errorf("%w: %s %s: decode response (request %s): %w", ErrMalformedAnswer, cl.method, path, res.requestID, err)
				}
			}
			return info, nil
		}
		last = res
		appliedBefore := maybeApplied
		if (res.err != nil && !res.notSent) || (res.err == nil && !Throttled(res.status)) {
			maybeApplied = true
		}

		retry := false
		var retryAfter time.Duration
		if res.err != nil {
			retry = !res.permanent && (res.notSent || cl.method != http.MethodPost || key != "")
		} else {
			retry = retryableStatus(res.status)
			retryAfter = parseRetryAfter(res.header.Get("Retry-After"))
		}
		if retry && attempt < c.retry.MaxAttempts {
			wait := c.backoff(attempt, retryAfter)
			deadline, hasDeadline := ctx.Deadline()
			if time.Since(start)+wait < c.retry.MaxElapsed && (!hasDeadline || time.Now().Add(wait).Before(deadline)) {
				c.log.LogAttrs(ctx, slog.LevelWarn, "amazonpay: retrying",
					slog.String("op", cl.op), slog.Int("attempt", attempt),
					slog.String("reason", retryReason(res)), slog.Duration("backoff", wait))
				if !sleep(ctx, wait) {
					info.Latency = time.Since(start)
					lastErr := res.err
					if lastErr == nil {
						lastErr = newError(res.status, res.body, res.requestID)
					}
					return info, contextError(ctx, cl.method, path, attempt, maybeSent, lastErr)
				}
				pacer := p.o.pacer
				if pacer == nil {
					continue
				}
				err := pacer.Wait(ctx, cl.op)
				if err == nil {
					continue
				}
				if ctx.Err() != nil {
					info.Latency = time.Since(start)
					lastErr := res.err
					if lastErr == nil {
						lastErr = newError(res.status, res.body, res.requestID)
					}
					return info, contextError(ctx, cl.method, path, attempt, maybeSent, lastErr)
				}
				// The pacer holds the retry back: this answer is the call's.
				c.log.LogAttrs(ctx, slog.LevelWarn, "amazonpay: retry held back by the pacer",
					slog.String("op", cl.op), slog.Int("attempt", attempt), slog.String("reason", err.Error()))
			}
		}

		info.Latency = time.Since(start)
		if res.err != nil {
			if certificateFailure(res.err) {
				// Not an outage: every call fails until the trust settings
				// are fixed, or someone intercepts the connection.
				c.log.LogAttrs(ctx, slog.LevelError, "amazonpay: the TLS certificate of Amazon Pay did not verify; nothing was sent: check "+
					EnvEndpoint+" and "+EnvCAFile+", or whether a proxy intercepts TLS",
					slog.String("op", cl.op), slog.String("host", c.host), slog.String("error", res.err.Error()))
			}
			return info, &TransportError{Err: res.err, Attempts: attempt, MayHaveBeenApplied: maybeSent, method: cl.method, path: path}
		}
		e := newError(res.status, res.body, res.requestID)
		e.Attempts, e.method, e.path = attempt, cl.method, path
		e.RetryAfter = parseRetryAfter(res.header.Get("Retry-After"))
		e.EarlierAttemptMayHaveBeenApplied = appliedBefore
		return info, e
	}
}

// contextError reports the end of the caller's context. If some attempt may
// have reached Amazon, the outcome is unknown, and a TransportError says so.
func contextError(ctx context.Context, method, path string, attempts int, maybeSent bool, last error) error {
	err := ctx.Err()
	if last != nil && !errors.Is(last, err) {
		err = fmt.Errorf("%w (last attempt: %v)", err, last)
	}
	return &TransportError{Err: err, Attempts: attempts, MayHaveBeenApplied: maybeSent, method: method, path: path}
}

// attempt sends one request with the signed headers h and reads the whole
// response within timeout.
func (c *Client) attempt(ctx context.Context, method, path string, body []byte, h http.Header, timeout time.Duration) attemptResult {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var reader io.Reader = http.NoBody
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, c.origin+path, reader)
	if err != nil {
		return attemptResult{err: err, notSent: true, permanent: true}
	}
	// The transport only reads the header map, so attempts may share it.
	req.Header = h

	resp, err := c.http.Do(req)
	if err != nil {
		res := classifyTransportError(err)
		if ctx.Err() == nil && actx.Err() != nil {
			res.err = fmt.Errorf("%w after %v", ErrAttemptTimeout, timeout)
		}
		return res
	}
	defer resp.Body.Close()
	res := attemptResult{status: resp.StatusCode, requestID: resp.Header.Get(HeaderRequestID), header: resp.Header}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		// The response was lost mid-body: the request was processed.
		res.err = fmt.Errorf("reading HTTP %d response: %w", resp.StatusCode, err)
		if ctx.Err() == nil && actx.Err() != nil {
			res.err = fmt.Errorf("%w after %v reading HTTP %d response", ErrAttemptTimeout, timeout, resp.StatusCode)
		}
		res.status = 0
		return res
	}
	if len(data) > maxResponseBytes {
		res.err = fmt.Errorf("HTTP %d response larger than %d bytes", resp.StatusCode, maxResponseBytes)
		res.status, res.permanent = 0, true
		return res
	}
	res.body = data
	return res
}

// classifyTransportError decides whether a failed request can have reached
// the server and whether retrying can help.
func classifyTransportError(err error) attemptResult {
	res := attemptResult{err: err}
	var (
		opErr    *net.OpError
		dnsErr   *net.DNSError
		certErr  *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		authErr  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr),
		errors.As(err, &recErr), errors.As(err, &alertErr):
		// The TLS handshake failed: nothing was sent, and it will fail again.
		res.notSent, res.permanent = true, true
	case errors.As(err, &dnsErr):
		res.notSent = true
	case errors.As(err, &opErr) && opErr.Op == "dial":
		res.notSent = true
	}
	return res
}

// certificateFailure reports whether err is a failure to verify the
// server's TLS certificate (unknown authority, wrong host name, expired or
// otherwise invalid), as opposed to other handshake or network failures.
func certificateFailure(err error) bool {
	var (
		certErr    *tls.CertificateVerificationError
		authErr    x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
	)
	return errors.As(err, &certErr) || errors.As(err, &authErr) || errors.As(err, &hostErr) || errors.As(err, &invalidErr)
}

// backoff returns the wait before retry number `failures`: full jitter,
// uniform in [0, min(MaxBackoff, InitialBackoff*2^(failures-1))). A
// Retry-After from the server raises it, up to MaxBackoff.
func (c *Client) backoff(failures int, retryAfter time.Duration) time.Duration {
	bound := c.retry.InitialBackoff
	for i := 1; i < failures && bound < c.retry.MaxBackoff; i++ {
		bound *= 2
	}
	bound = min(bound, c.retry.MaxBackoff)
	wait := time.Duration(0)
	if bound > 0 {
		wait = rand.N(bound)
	}
	if retryAfter > wait {
		wait = min(retryAfter, c.retry.MaxBackoff)
	}
	return wait
}

// parseRetryAfter reads a delay-seconds Retry-After (Amazon documents none,
// but gateways and throttlers send it).
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(min(n, 3600)) * time.Second
}

// sleep waits for d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func retryReason(res attemptResult) string {
	if res.err != nil {
		return res.err.Error()
	}
	return "HTTP " + strconv.Itoa(res.status)
}

// logAttempt records one attempt at Debug. Only the operation, path (object
// IDs), status and request ID are logged: never headers or bodies.
func (c *Client) logAttempt(ctx context.Context, cl call, path string, attempt int, res attemptResult, d time.Duration) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("op", cl.op), slog.String("method", cl.method), slog.String("path", path),
		slog.Int("attempt", attempt), slog.Duration("duration", d),
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", res.status), slog.String("request_id", res.requestID))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "amazonpay: attempt", attrs...)
}

// Observers combines observers into one that tells each, in order; the
// context each returns is passed to the next.
func Observers(obs ...CallObserver) CallObserver { return observers(obs) }

type observers []CallObserver

func (os observers) CallStarted(ctx context.Context, op string) (context.Context, func(CallInfo, error)) {
	dones := make([]func(CallInfo, error), 0, len(os))
	for _, o := range os {
		var done func(CallInfo, error)
		ctx, done = o.CallStarted(ctx, op)
		dones = append(dones, done)
	}
	return ctx, func(info CallInfo, err error) {
		for i := len(dones) - 1; i >= 0; i-- {
			dones[i](info, err)
		}
	}
}

// DeriveKey returns a 32-byte secret for purpose, derived (HKDF-SHA256)
// from the client's private key: the same in every process that holds the
// key, so replicas can check each other's MACs without another shared
// secret, and telling nothing of the key itself. A new private key changes
// every derived key.
func (c *Client) DeriveKey(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, c.signer.key.D.Bytes(), nil, "amazonpay derived key: "+purpose, 32)
	if err != nil {
		// Only a length beyond 255 hash sizes fails.
		panic(err)
	}
	return k
}
