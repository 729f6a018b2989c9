package simulator

import (
	"cmp"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configures a Simulator. The zero value is a usable in-memory
// simulator on real time.
type Options struct {
	// Clock drives dates, expirations and pending settlements; nil means
	// real time (or a manual clock, see ManualClock). Go tests pass a
	// *FakeClock, which POST /simulator/clock can also advance.
	Clock Clock
	// ManualClock, with Clock nil, runs the simulator on a clock that
	// stands still except when POST /simulator/clock advances it, so tests
	// in any language can reach expiries and settlements without waiting.
	// It starts at the real time, or where the persisted manual clock of
	// StateDir stood if that is later. Request dates (x-amz-pay-date) are
	// still judged against real time, as callers sign with theirs.
	ManualClock bool
	// Throttle enforces Amazon's request quotas per merchant and
	// operation: ThrottleNone ("", the default), ThrottleSandbox or
	// ThrottleLive. Buckets refill on the simulator's clock.
	Throttle string
	// PendingDelay is how long a pending authorization stays
	// AuthorizationInitiated before it settles (default 30s, like the
	// sandbox's simulated instruments).
	PendingDelay time.Duration
	// StateDir, when set, is where keys, sessions, charges, charge
	// permissions, idempotency records and call counts are persisted (a
	// SQLite database, each change written before it is answered) and
	// reloaded by New, which also resumes pending settlements. "" keeps
	// everything in memory.
	StateDir string
	// ClockSkew is the accepted distance between x-amz-pay-date and the
	// clock (default 15m).
	ClockSkew time.Duration
	// Logger receives one line per request (operation, status, ids; never
	// bodies or buyer data). nil discards.
	Logger *slog.Logger

	// NotificationClient sends notifications (IPN) to the registered
	// endpoints; nil is a client with SNS's 15 s timeout per attempt.
	NotificationClient *http.Client
	// NotificationAttempts bounds the attempts per notification (default
	// DefaultNotificationAttempts); NotificationBackoff is the wait before
	// the first retry, doubling up to NotificationMaxBackoff. Retries wait
	// on real time, not on Clock.
	NotificationAttempts   int
	NotificationBackoff    time.Duration
	NotificationMaxBackoff time.Duration
}

// Defaults for Options.
const (
	DefaultPendingDelay = 30 * time.Second
	DefaultClockSkew    = 15 * time.Minute
)

// defaultMerchant owns every key registered without a merchant id.
const defaultMerchant = "default"

// Environments a request addresses.
const (
	envSandbox = "sandbox"
	envLive    = "live"
)

// maxBodyBytes bounds request bodies; Amazon's objects are a few KiB.
const maxBodyBytes = 1 << 20

// Simulator is an in-process Amazon Pay API v2 (Checkout v2) service: it
// verifies request signatures, keeps Checkout Sessions, Charges and Charge
// Permissions with Amazon's state machines, honours idempotency keys and
// serves a control API under /simulator/ for tests. It is safe for
// concurrent use; use it as an http.Handler.
type Simulator struct {
	clock Clock
	// dateClock is what x-amz-pay-date is compared with: the clock, or
	// real time under a manual clock.
	dateClock       Clock
	manual          bool
	throttle        map[string]quota
	throttleSetting string
	pendingDelay    time.Duration
	skew            time.Duration
	stateDir        string
	log             *slog.Logger
	done            chan struct{}
	closeOnce       sync.Once

	mu       sync.Mutex // guards everything below
	keys     map[string]*keyRecord
	sessions map[string]*sessionRecord
	charges  map[string]*chargeRecord
	perms    map[string]*chargePermissionRecord
	refunds  map[string]*refundRecord
	// buyerTokens are the tokens of signed-in buyers, for Get Buyer.
	buyerTokens map[string]*buyerTokenRecord
	idem        map[string]*idemRecord
	calls       map[string]map[string]int
	faults      map[string][]*fault
	timers      map[string]Stopper // pending settlements by charge or refund id
	// owner maps every object id (session, charge permission, charge, ...)
	// to its checkout session; members lists a session's other objects.
	owner   map[string]string
	members map[string][]string
	// db is the persisted copy (nil without StateDir); pending holds the
	// records changed since the last write, uncountedCalls the sessions
	// whose call counts changed since.
	db             *stateDB
	pending        map[recordRef]any
	uncountedCalls map[string]struct{}
	closed         bool
	// manualSince is where a persisted manual clock stood.
	manualSince time.Time
	buckets     map[bucketKey]*bucket
	// endpoints are the registered notification endpoints by id; notify
	// delivers to them (see notify.go).
	endpoints map[string]*notificationEndpoint
	notify    *notifier
}

// keyRecord is a registered public key.
type keyRecord struct {
	ID       string         `json:"id"`
	PEM      string         `json:"pem"`
	Merchant string         `json:"merchant"`
	pub      *rsa.PublicKey `json:"-"`
}

// New returns a Simulator. With Options.StateDir set it reloads what an
// earlier Simulator persisted there and resumes pending settlements.
func New(opts Options) (*Simulator, error) {
	s := &Simulator{
		clock:          opts.Clock,
		pendingDelay:   opts.PendingDelay,
		skew:           opts.ClockSkew,
		stateDir:       opts.StateDir,
		log:            opts.Logger,
		done:           make(chan struct{}),
		keys:           map[string]*keyRecord{},
		sessions:       map[string]*sessionRecord{},
		charges:        map[string]*chargeRecord{},
		perms:          map[string]*chargePermissionRecord{},
		refunds:        map[string]*refundRecord{},
		buyerTokens:    map[string]*buyerTokenRecord{},
		idem:           map[string]*idemRecord{},
		calls:          map[string]map[string]int{},
		faults:         map[string][]*fault{},
		timers:         map[string]Stopper{},
		owner:          map[string]string{},
		members:        map[string][]string{},
		pending:        map[recordRef]any{},
		uncountedCalls: map[string]struct{}{},
		buckets:        map[bucketKey]*bucket{},
		endpoints:      map[string]*notificationEndpoint{},
	}
	throttle, err := quotasFor(opts.Throttle)
	if err != nil {
		return nil, err
	}
	s.throttle = throttle
	s.throttleSetting = cmp.Or(opts.Throttle, ThrottleNone)
	s.manual = opts.ManualClock && opts.Clock == nil
	if s.pendingDelay <= 0 {
		s.pendingDelay = DefaultPendingDelay
	}
	if s.skew <= 0 {
		s.skew = DefaultClockSkew
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.stateDir != "" {
		if err := s.load(); err != nil {
			if s.db != nil {
				_ = s.db.close()
			}
			return nil, fmt.Errorf("simulator: load state: %w", err)
		}
	}
	s.dateClock = realClock{}
	switch {
	case s.clock != nil:
		s.dateClock = s.clock
	case s.manual:
		start := time.Now()
		if s.manualSince.After(start) {
			start = s.manualSince
		}
		s.clock = NewFakeClock(start)
	default:
		s.clock = realClock{}
	}
	s.notify = newNotifier(opts, s.log)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.charges {
		if (c.State == stateAuthorizationInitiated || c.State == stateCaptureInitiated) && !c.SettleAt.IsZero() {
			s.scheduleSettlementLocked(c)
		}
	}
	for _, r := range s.refunds {
		if r.State == stateRefundInitiated {
			s.scheduleLocked(r.ID, r.SettleAt)
		}
	}
	return s, nil
}

// Now is the simulator's current time: real time, or where its manual
// clock stands. Its notifications' Timestamps are in this time.
func (s *Simulator) Now() time.Time { return s.clock.Now() }

// Close stops pending settlement timers, ends requests held by faults and
// persists the state. Pending settlements resume in the next New on the same
// StateDir.
func (s *Simulator) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.notify.close()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		for id, t := range s.timers {
			t.Stop()
			delete(s.timers, id)
		}
		if s.db != nil {
			for id := range s.uncountedCalls {
				s.changedLocked(id)
			}
			err = s.flushLocked()
			if cerr := s.db.close(); err == nil {
				err = cerr
			}
		}
	})
	return err
}

// RegisterPublicKey registers the public half of a merchant's signing key.
// merchantID "" puts the key in the default merchant account, which all such
// keys share (so a test's key sees the service's sessions). Registering an
// id again replaces its key.
func (s *Simulator) RegisterPublicKey(publicKeyID string, pub *rsa.PublicKey, merchantID string) error {
	if strings.TrimSpace(publicKeyID) == "" || strings.ContainsAny(publicKeyID, " ,=") {
		return fmt.Errorf("simulator: invalid public key id %q", publicKeyID)
	}
	if pub == nil {
		return errors.New("simulator: nil public key")
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("simulator: encode public key: %w", err)
	}
	if merchantID == "" {
		merchantID = defaultMerchant
	}
	rec := &keyRecord{
		ID:       publicKeyID,
		PEM:      string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		Merchant: merchantID,
		pub:      pub,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[publicKeyID] = rec
	s.putRecordLocked(kindKey, publicKeyID, rec)
	s.persistLocked()
	return nil
}

// parsePublicKeyPEM reads an RSA public key in PKIX or PKCS#1 PEM.
func parsePublicKeyPEM(text string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKIX public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("not an RSA key")
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#1 public key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

// ServeHTTP serves the Amazon Pay API (under /v2/, /sandbox/v2/ and
// /live/v2/) and the control API (under /simulator/).
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amz-pay-request-id", newRequestID())
	w.Header().Set("Content-Type", "application/json")
	if strings.HasPrefix(r.URL.Path, "/simulator/") {
		s.serveControl(w, r)
		return
	}
	s.serveAPI(w, r)
}

// writeJSON writes a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"reasonCode":"InternalServerError","message":"encoding failed"}`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// errorBody is Amazon Pay's error document.
type errorBody struct {
	ReasonCode string `json:"reasonCode"`
	Message    string `json:"message"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, errorBody{ReasonCode: e.ReasonCode, Message: e.Message})
}

// readBody reads the whole request body within maxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return nil, errorf(400, "InvalidRequest", "The request body could not be read or is too large.")
	}
	return b, nil
}
