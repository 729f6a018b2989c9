package ipn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// Path is where the receiver takes notifications.
const Path = "/amazonpay/ipn"

// Defaults of Config.
const (
	// DefaultMaxBody is far above an IPN's envelope (about 1.5 KB) and far
	// below what could tie up memory.
	DefaultMaxBody = 16 << 10
	// DefaultRate and DefaultBurst are the messages per second one source
	// address may post.
	DefaultRate  = 50.0
	DefaultBurst = 100
	// maxSources bounds the per-source limiters kept.
	maxSources = 10_000
)

// Results and reasons of Metrics.IPNMessage: a small fixed set, so that
// they can label metrics.
const (
	ResultAccepted = "accepted"
	ResultRefused  = "refused"

	// Accepted: a notification recorded as a nudge of what tracks its
	// object (ReasonUnmatched: nothing tracks it), one of an object type
	// not tracked, a subscription confirmed, an unsubscription noted.
	ReasonNotification  = "notification"
	ReasonUnmatched     = "unmatched"
	ReasonUntrackedType = "untracked_type"
	ReasonSubscribed    = "subscribed"
	ReasonUnsubscribed  = "unsubscribed"

	// Refused: over the source's rate; body too large; not an SNS message
	// or not an IPN; topic not allowed; Timestamp too old, in the future
	// or unreadable; bad or unreadable signature; SigningCertURL (or
	// SubscribeURL) not an allowed https URL; signing certificate not
	// fetched or not trusted; another merchant's notification; the
	// subscription could not be confirmed; the nudge could not be
	// recorded (SNS delivers again); not verified for another cause.
	ReasonRate          = "rate"
	ReasonTooLarge      = "too_large"
	ReasonMalformed     = "malformed"
	ReasonTopic         = "topic"
	ReasonAge           = "age"
	ReasonSignature     = "signature"
	ReasonCertHost      = "cert_host"
	ReasonCert          = "cert"
	ReasonMerchant      = "merchant"
	ReasonConfirmFailed = "confirm_failed"
	ReasonStore         = "store"
	ReasonUnverified    = "unverified"
)

// Metrics is told what became of each message posted to the receiver
// (not of requests to another path or with another method); metrics.Metrics
// is one.
type Metrics interface {
	// IPNMessage counts a message: result is ResultAccepted or
	// ResultRefused, reason one of the Reason constants.
	IPNMessage(result, reason string)
	// IPNNudged observes the time from a notification's receipt to its
	// nudge being durable.
	IPNNudged(d time.Duration)
}

// Nudger makes the payments tracking an object due now; store.Store is
// one.
type Nudger interface {
	Nudge(ctx context.Context, ref store.ObjectRef, now time.Time) (int, error)
}

// Config configures a Receiver.
type Config struct {
	Verifier VerifierConfig
	// MerchantID is this deployment's Amazon Pay merchant ID: a
	// notification for another merchant is refused.
	MerchantID string
	// Store is nudged for each verified notification.
	Store Nudger
	// Wake, when set, is called after a nudge so this replica's tracker
	// looks for due work at once.
	Wake func()
	// MaxBody bounds a message's size; Rate and Burst the messages per
	// second of one source address.
	MaxBody int64
	Rate    float64
	Burst   int
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Metrics, when set, counts the messages.
	Metrics Metrics
	// TracerProvider traces each message (a trace of its own: SNS sends
	// no trace context), so that its log lines carry a trace ID; nil: the
	// global one.
	TracerProvider trace.TracerProvider
}

// ipnMessage is the Amazon Pay notification inside a Notification's
// Message: IDs only.
type ipnMessage struct {
	MerchantID         string `json:"MerchantID"`
	ObjectType         string `json:"ObjectType"`
	ObjectID           string `json:"ObjectId"`
	ChargePermissionID string `json:"ChargePermissionId"`
	NotificationType   string `json:"NotificationType"`
	NotificationID     string `json:"NotificationId"`
}

// Receiver is the http.Handler of the notification endpoint.
type Receiver struct {
	cfg      Config
	verifier *Verifier
	log      *slog.Logger
	tracer   trace.Tracer

	mu      sync.Mutex
	sources map[string]*rate.Limiter
}

// New returns a Receiver; MerchantID and Store must be set.
func New(cfg Config) (*Receiver, error) {
	if cfg.MerchantID == "" || cfg.Store == nil {
		return nil, errors.New("ipn: merchant ID and store must be set")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Verifier.Now == nil {
		cfg.Verifier.Now = cfg.Now
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	return &Receiver{cfg: cfg, verifier: NewVerifier(cfg.Verifier), log: cfg.Logger, sources: map[string]*rate.Limiter{},
		tracer: cfg.TracerProvider.Tracer("github.com/paymentcompletion/paymentcompletion")}, nil
}

// ServeHTTP implements http.Handler. Every refusal is a 4xx (SNS does not
// retry those) logged without the body; only a store failure is a 5xx, so
// that SNS delivers the message again.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx, span := rc.tracer.Start(r.Context(), "ipn message", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	source := sourceOf(r)
	if !rc.allow(source) {
		rc.refuse(ctx, w, http.StatusTooManyRequests, ReasonRate, "rate limited", source, nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rc.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			rc.refuse(ctx, w, http.StatusRequestEntityTooLarge, ReasonTooLarge, "body too large", source, nil)
			return
		}
		rc.refuse(ctx, w, http.StatusBadRequest, ReasonMalformed, "body unreadable", source, err)
		return
	}
	m, err := Parse(body)
	if err != nil {
		rc.refuse(ctx, w, http.StatusBadRequest, ReasonMalformed, "not an SNS message", source, err)
		return
	}
	if err := rc.verifier.Verify(ctx, m); err != nil {
		rc.refuse(ctx, w, http.StatusForbidden, RefusalReason(err), "message not verified", source, err)
		return
	}
	switch m.Type {
	case TypeNotification:
		rc.notification(ctx, w, m, source, received)
	case TypeSubscriptionConfirmation:
		rc.confirm(ctx, w, m, source)
	default: // UnsubscribeConfirmation: nothing to do; polling continues.
		rc.log.WarnContext(ctx, "ipn: unsubscribed from notifications; payments are still settled by polling",
			"topic_arn", m.TopicArn, "message_id", m.MessageID)
		rc.count(ctx, ResultAccepted, ReasonUnsubscribed)
		w.WriteHeader(http.StatusOK)
	}
}

func (rc *Receiver) notification(ctx context.Context, w http.ResponseWriter, m *Message, source string, received time.Time) {
	var n ipnMessage
	if err := json.Unmarshal([]byte(m.Message), &n); err != nil {
		rc.refuse(ctx, w, http.StatusBadRequest, ReasonMalformed, "notification's Message is not an IPN", source, err)
		return
	}
	if n.MerchantID != rc.cfg.MerchantID {
		rc.refuse(ctx, w, http.StatusForbidden, ReasonMerchant, "notification for another merchant", source, nil)
		return
	}
	ref := store.ObjectRef{Type: store.ObjectType(n.ObjectType), ID: n.ObjectID, ChargePermissionID: n.ChargePermissionID}
	switch ref.Type {
	case store.ObjectCharge, store.ObjectRefund, store.ObjectChargePermission:
	default:
		rc.log.InfoContext(ctx, "ipn: notification of an object type not tracked; ignored",
			"object_type", n.ObjectType, "message_id", m.MessageID)
		rc.count(ctx, ResultAccepted, ReasonUntrackedType)
		w.WriteHeader(http.StatusOK)
		return
	}
	if ref.ID == "" {
		rc.refuse(ctx, w, http.StatusBadRequest, ReasonMalformed, "notification without ObjectId", source, nil)
		return
	}
	matched, err := rc.cfg.Store.Nudge(ctx, ref, rc.cfg.Now().UTC())
	if err != nil {
		// Not durable: SNS delivers it again after a 5xx.
		rc.log.WarnContext(ctx, "ipn: could not record a notification; asking for redelivery",
			"object_type", n.ObjectType, "object_id", n.ObjectID, "error", err.Error())
		rc.count(ctx, ResultRefused, ReasonStore)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if rc.cfg.Metrics != nil {
		rc.cfg.Metrics.IPNNudged(time.Since(received))
	}
	reason := ReasonNotification
	if matched == 0 {
		reason = ReasonUnmatched
	}
	rc.count(ctx, ResultAccepted, reason)
	if matched > 0 && rc.cfg.Wake != nil {
		rc.cfg.Wake()
	}
	rc.log.InfoContext(ctx, "ipn: notification received", "object_type", n.ObjectType, "object_id", n.ObjectID,
		"notification_id", n.NotificationID, "payments_nudged", matched)
	w.WriteHeader(http.StatusOK)
}

// confirm confirms a subscription by fetching its SubscribeURL, only when
// that URL passes the same host check as a signing certificate's.
func (rc *Receiver) confirm(ctx context.Context, w http.ResponseWriter, m *Message, source string) {
	u, err := rc.verifier.AllowedURL(m.SubscribeURL)
	if err != nil {
		rc.refuse(ctx, w, http.StatusForbidden, RefusalReason(err), "SubscribeURL not allowed", source, err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, u.String(), nil)
	if err == nil {
		var resp *http.Response
		if resp, err = rc.verifier.client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
	}
	if err != nil {
		rc.log.WarnContext(ctx, "ipn: could not confirm the subscription", "topic_arn", m.TopicArn, "error", err.Error())
		rc.count(ctx, ResultRefused, ReasonConfirmFailed)
		http.Error(w, "confirmation failed", http.StatusBadGateway)
		return
	}
	rc.log.InfoContext(ctx, "ipn: subscription confirmed", "topic_arn", m.TopicArn)
	rc.count(ctx, ResultAccepted, ReasonSubscribed)
	w.WriteHeader(http.StatusOK)
}

// refuse answers a refused message, counted under label (a Reason
// constant); the log names the reason, never the body.
func (rc *Receiver) refuse(ctx context.Context, w http.ResponseWriter, status int, label, reason, source string, err error) {
	rc.count(ctx, ResultRefused, label)
	attrs := []any{"status", status, "reason", reason, "refusal", label, "source", source}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	rc.log.WarnContext(ctx, "ipn: message refused", attrs...)
	http.Error(w, reason, status)
}

func (rc *Receiver) count(ctx context.Context, result, reason string) {
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("paymentcompletion.ipn.result", result),
		attribute.String("paymentcompletion.ipn.reason", reason))
	if rc.cfg.Metrics != nil {
		rc.cfg.Metrics.IPNMessage(result, reason)
	}
}

// allow takes a token of source's limiter.
func (rc *Receiver) allow(source string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	l := rc.sources[source]
	if l == nil {
		if len(rc.sources) >= maxSources {
			// Forget the sources that are back to a full bucket: they have
			// been quiet for a while.
			for k, old := range rc.sources {
				if old.Tokens() >= float64(rc.cfg.Burst) {
					delete(rc.sources, k)
				}
			}
			if len(rc.sources) >= maxSources {
				return false
			}
		}
		l = rate.NewLimiter(rate.Limit(rc.cfg.Rate), rc.cfg.Burst)
		rc.sources[source] = l
	}
	return l.Allow()
}

// sourceOf is the peer's address (no forwarding header is trusted).
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func tlsConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}
