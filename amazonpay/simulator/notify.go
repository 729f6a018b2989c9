package simulator

import (
	"bytes"
	"container/heap"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA.
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Instant Payment Notifications (IPN v2).
//
// Amazon Pay tells a merchant about every state change of a Charge, Refund
// or Charge Permission by an Amazon SNS HTTP(S) notification: a JSON
// envelope (Type, MessageId, TopicArn, Message, Timestamp, SignatureVersion,
// Signature, SigningCertURL, UnsubscribeURL) whose Message is the IPN
// {MerchantID, ObjectType, ObjectId, ChargePermissionId, NotificationType,
// NotificationId, NotificationVersion}. The IPN carries no state: the
// merchant reads the object to learn it.
//
// The simulator does the same for the endpoints registered through the
// control API. Operations call notifyStateChangeLocked where an object's
// state changes; that only queues (never blocking the API call). A fixed
// set of workers signs each message as SNS does (SignatureVersion 1:
// SHA1withRSA, 2: SHA256withRSA, over SNS's canonical string) and POSTs it,
// retrying failures with exponential backoff up to a bounded number of
// attempts. Close stops the workers; queued messages are dropped then (they
// are not persisted).

// Object types and the notification type of an IPN.
const (
	ObjectTypeCharge           = "CHARGE"
	ObjectTypeRefund           = "REFUND"
	ObjectTypeChargePermission = "CHARGE_PERMISSION"

	notificationStateChange = "STATE_CHANGE"
	notificationVersion     = "V2"
)

// Defaults for Options' notification settings.
const (
	// DefaultNotificationAttempts is SNS's default HTTP delivery policy:
	// the first attempt and 3 retries.
	DefaultNotificationAttempts = 4
	// DefaultNotificationBackoff is the wait before the first retry; it
	// doubles per retry up to DefaultNotificationMaxBackoff (SNS's default
	// policy waits 20 s between retries).
	DefaultNotificationBackoff    = time.Second
	DefaultNotificationMaxBackoff = 20 * time.Second
	// notificationTimeout is SNS's per-attempt timeout for HTTP endpoints.
	notificationTimeout = 15 * time.Second
	notificationWorkers = 4
	// maxQueuedNotifications bounds memory while receivers are down.
	maxQueuedNotifications = 10_000
	// recentNotifications is how many deliveries the control API lists.
	recentNotifications = 1_000
)

// kindNotificationEndpoint is the persisted record kind of an endpoint.
const kindNotificationEndpoint = "notificationEndpoint"

// notificationEndpoint is a URL registered to receive a merchant's IPNs.
type notificationEndpoint struct {
	ID               string    `json:"id"`
	Merchant         string    `json:"merchantId"`
	URL              string    `json:"url"`
	SignatureVersion string    `json:"signatureVersion"`
	Created          time.Time `json:"created"`
}

// ipnMessage is the IPN v2 payload, the SNS envelope's Message.
type ipnMessage struct {
	MerchantID          string `json:"MerchantID"`
	ObjectType          string `json:"ObjectType"`
	ObjectID            string `json:"ObjectId"`
	ChargePermissionID  string `json:"ChargePermissionId"`
	NotificationType    string `json:"NotificationType"`
	NotificationID      string `json:"NotificationId"`
	NotificationVersion string `json:"NotificationVersion"`
}

// snsEnvelope is an SNS HTTP(S) Notification, its keys in SNS's order.
type snsEnvelope struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	TopicArn         string `json:"TopicArn"`
	Message          string `json:"Message"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	UnsubscribeURL   string `json:"UnsubscribeURL"`
}

// snsStringToSign is SNS's canonical string of a Notification: each of
// Message, MessageId, Subject (absent here), Timestamp, TopicArn and Type
// as "name\nvalue\n", in that order.
func snsStringToSign(e *snsEnvelope) []byte {
	var b bytes.Buffer
	for _, kv := range [][2]string{
		{"Message", e.Message}, {"MessageId", e.MessageID}, {"Timestamp", e.Timestamp},
		{"TopicArn", e.TopicArn}, {"Type", e.Type},
	} {
		b.WriteString(kv[0] + "\n" + kv[1] + "\n")
	}
	return b.Bytes()
}

// delivery is one notification to one endpoint.
type delivery struct {
	env        snsEnvelope // unsigned until the first attempt
	body       []byte      // the signed envelope, once built
	endpointID string
	url        string
	objectType string
	objectID   string
	due        time.Time
	attempts   int
	state      string // pending, delivered, failed
	lastStatus int
	lastError  string
	index      int // in the queue heap
}

// deliveryQueue is a min-heap of deliveries by due time.
type deliveryQueue []*delivery

func (q deliveryQueue) Len() int           { return len(q) }
func (q deliveryQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q deliveryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *deliveryQueue) Push(x any) {
	d := x.(*delivery)
	d.index = len(*q)
	*q = append(*q, d)
}
func (q *deliveryQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	*q = old[:len(old)-1]
	return d
}

// notifySigner is the SNS signing key and the certificate a receiver
// fetches from SigningCertURL.
type notifySigner struct {
	key      *rsa.PrivateKey
	certPEM  []byte
	certPath string // under the public URL, ends in .pem
}

// notifier delivers notifications. Its lock is taken inside the
// simulator's (never the other way round).
type notifier struct {
	client     *http.Client
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
	log        *slog.Logger
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	mu        sync.Mutex
	signer    *notifySigner
	publicURL string
	queue     deliveryQueue
	changed   chan struct{} // closed and replaced when the queue changes
	recent    []*delivery   // ring of the latest deliveries, for the control API
	next      int
	closed    bool
}

func newNotifier(opts Options, log *slog.Logger) *notifier {
	n := &notifier{
		client:     opts.NotificationClient,
		attempts:   opts.NotificationAttempts,
		backoff:    opts.NotificationBackoff,
		maxBackoff: opts.NotificationMaxBackoff,
		log:        log,
		changed:    make(chan struct{}),
	}
	if n.client == nil {
		n.client = &http.Client{Timeout: notificationTimeout}
	}
	if n.attempts <= 0 {
		n.attempts = DefaultNotificationAttempts
	}
	if n.backoff <= 0 {
		n.backoff = DefaultNotificationBackoff
	}
	if n.maxBackoff <= 0 {
		n.maxBackoff = DefaultNotificationMaxBackoff
	}
	n.maxBackoff = max(n.maxBackoff, n.backoff)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(notificationWorkers)
	for range notificationWorkers {
		go n.run()
	}
	return n
}

// close stops the workers (an attempt under way is aborted) and drops
// what is queued.
func (n *notifier) close() {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.changed)
	}
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}

// signalLocked wakes the workers.
func (n *notifier) signalLocked() {
	if n.closed {
		return
	}
	close(n.changed)
	n.changed = make(chan struct{})
}

// enqueue queues d for delivery now.
func (n *notifier) enqueue(d *delivery) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	d.state = "pending"
	n.remember(d)
	if len(n.queue) >= maxQueuedNotifications {
		d.state, d.lastError = "failed", "too many notifications queued"
		n.log.Warn("simulator: notification dropped, queue full", "objectType", d.objectType, "objectId", d.objectID)
		return
	}
	d.due = time.Now()
	heap.Push(&n.queue, d)
	n.signalLocked()
}

func (n *notifier) remember(d *delivery) {
	if len(n.recent) < recentNotifications {
		n.recent = append(n.recent, d)
		return
	}
	n.recent[n.next] = d
	n.next = (n.next + 1) % recentNotifications
}

func (n *notifier) run() {
	defer n.wg.Done()
	for {
		d := n.take()
		if d == nil {
			return
		}
		n.attempt(d)
	}
}

// take waits for the next due delivery; nil once closed.
func (n *notifier) take() *delivery {
	n.mu.Lock()
	for {
		if n.closed {
			n.mu.Unlock()
			return nil
		}
		var timer *time.Timer
		var wait <-chan time.Time
		if len(n.queue) > 0 {
			d := n.queue[0]
			if left := time.Until(d.due); left <= 0 {
				heap.Pop(&n.queue)
				n.mu.Unlock()
				return d
			} else {
				timer = time.NewTimer(left)
				wait = timer.C
			}
		}
		changed := n.changed
		n.mu.Unlock()
		select {
		case <-changed:
		case <-wait:
		case <-n.ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		n.mu.Lock()
	}
}

// attempt sends d once and decides what follows: delivered on 2xx; failed
// on another 4xx (SNS retries only server errors, throttling and network
// failures) or when the attempts are used up; otherwise another attempt
// after the backoff.
func (n *notifier) attempt(d *delivery) {
	body, err := n.sign(d)
	status := 0
	if err == nil {
		status, err = n.post(d, body)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	d.attempts++
	d.lastStatus = status
	d.lastError = ""
	if err != nil {
		d.lastError = err.Error()
	}
	switch {
	case err == nil && status/100 == 2:
		d.state = "delivered"
		return
	case n.closed:
		d.state = "failed"
		return
	case err == nil && status/100 == 4 && status != http.StatusTooManyRequests,
		d.attempts >= n.attempts:
		d.state = "failed"
		n.log.Info("simulator: notification not delivered", "objectType", d.objectType, "objectId", d.objectID,
			"attempts", d.attempts, "status", status)
		return
	}
	wait := n.backoff << (d.attempts - 1)
	if wait <= 0 || wait > n.maxBackoff {
		wait = n.maxBackoff
	}
	d.due = time.Now().Add(wait)
	heap.Push(&n.queue, d)
	n.signalLocked()
}

// sign builds and signs d's envelope at its first attempt (signing costs
// about a millisecond, which must not fall on the API call).
func (n *notifier) sign(d *delivery) ([]byte, error) {
	if d.body != nil {
		return d.body, nil
	}
	if err := n.ensureSigner(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	signer, base := n.signer, n.publicURL
	n.mu.Unlock()
	if signer == nil || base == "" {
		return nil, errors.New("the simulator's public URL is not known (Serve sets it; see SetPublicURL)")
	}
	env := d.env
	env.SigningCertURL = base + signer.certPath
	env.UnsubscribeURL = base + "/simulator/notificationEndpoints/" + d.endpointID + "/unsubscribe"
	text := snsStringToSign(&env)
	var (
		sig []byte
		err error
	)
	switch env.SignatureVersion {
	case "2":
		sum := sha256.Sum256(text)
		sig, err = rsa.SignPKCS1v15(nil, signer.key, crypto.SHA256, sum[:])
	default:
		sum := sha1.Sum(text) //nolint:gosec // SNS SignatureVersion 1.
		sig, err = rsa.SignPKCS1v15(nil, signer.key, crypto.SHA1, sum[:])
	}
	if err != nil {
		return nil, fmt.Errorf("sign notification: %w", err)
	}
	env.Signature = base64.StdEncoding.EncodeToString(sig)
	b, err := jsonMarshal(env)
	if err != nil {
		return nil, err
	}
	d.body = b
	return b, nil
}

// post sends body as SNS does: text/plain, with SNS's headers.
func (n *notifier) post(d *delivery, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(n.ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	req.Header.Set("User-Agent", "Amazon Simple Notification Service Agent")
	req.Header.Set("x-amz-sns-message-type", d.env.Type)
	req.Header.Set("x-amz-sns-message-id", d.env.MessageID)
	req.Header.Set("x-amz-sns-topic-arn", d.env.TopicArn)
	req.Header.Set("x-amz-sns-subscription-arn", d.env.TopicArn+":"+d.endpointID)
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// deliveryView is a delivery as the control API lists it.
type deliveryView struct {
	MessageID   string `json:"messageId"`
	EndpointID  string `json:"endpointId"`
	URL         string `json:"url"`
	ObjectType  string `json:"objectType"`
	ObjectID    string `json:"objectId"`
	Timestamp   string `json:"timestamp"`
	State       string `json:"state"`
	Attempts    int    `json:"attempts"`
	LastStatus  int    `json:"lastStatus,omitempty"`
	LastError   string `json:"lastError,omitempty"`
	MessageBody string `json:"message"`
}

// deliveries lists the latest deliveries, oldest first.
func (n *notifier) deliveries() []deliveryView {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]deliveryView, 0, len(n.recent))
	for i := range n.recent {
		d := n.recent[(n.next+i)%len(n.recent)]
		out = append(out, deliveryView{
			MessageID: d.env.MessageID, EndpointID: d.endpointID, URL: d.url, ObjectType: d.objectType,
			ObjectID: d.objectID, Timestamp: d.env.Timestamp, State: d.state, Attempts: d.attempts,
			LastStatus: d.lastStatus, LastError: d.lastError, MessageBody: d.env.Message,
		})
	}
	return out
}

// setSigner installs the signing key and certificate.
func (n *notifier) setSigner(sg *notifySigner) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.signer = sg
}

// ensureSigner gives the notifier a self-signed signing certificate when
// none was installed (an in-process simulator without Serve). Workers call
// it, so the key is made off the API's path, and only if needed.
func (n *notifier) ensureSigner() error {
	n.mu.Lock()
	has := n.signer != nil
	n.mu.Unlock()
	if has {
		return nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("simulator: notification signing key: %w", err)
	}
	sg, err := newNotifySigner(key, nil, nil)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.signer == nil {
		n.signer = sg
	}
	return nil
}

// certFor answers the signing certificate at its path.
func (n *notifier) certFor(path string) ([]byte, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.signer == nil || n.signer.certPath != path {
		return nil, false
	}
	return n.signer.certPEM, true
}

// newNotifySigner issues the signing certificate for key: by ca (with
// caKey) when given, so a receiver that trusts the simulator's TLS
// certificate can verify the chain, else self-signed.
func newNotifySigner(key *rsa.PrivateKey, ca *x509.Certificate, caKey crypto.Signer) (*notifySigner, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("simulator: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sns.amazonaws.com (Amazon Pay simulator)", Organization: []string{"paymentcompletion"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	parent, signKey := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signKey = ca, caKey
		if tmpl.NotAfter.After(ca.NotAfter) {
			tmpl.NotAfter = ca.NotAfter
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signKey)
	if err != nil {
		return nil, fmt.Errorf("simulator: create signing certificate: %w", err)
	}
	return signerFromDER(key, der), nil
}

func signerFromDER(key *rsa.PrivateKey, der []byte) *notifySigner {
	sum := sha256.Sum256(der)
	return &notifySigner{
		key:      key,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		certPath: "/simulator/sns/SimpleNotificationService-" + hex.EncodeToString(sum[:16]) + ".pem",
	}
}

// SetPublicURL tells the simulator the base URL receivers reach it at
// (e.g. "https://127.0.0.1:8443"), for the SigningCertURL and
// UnsubscribeURL of notifications. Serve sets it; an in-process simulator
// behind httptest sets it to the test server's URL.
func (s *Simulator) SetPublicURL(base string) {
	s.notify.mu.Lock()
	defer s.notify.mu.Unlock()
	s.notify.publicURL = strings.TrimSuffix(base, "/")
}

// topicArn is the SNS topic of a merchant's notifications.
func topicArn(merchant string) string {
	name := topicUnsafe.ReplaceAllString(merchant, "-")
	return "arn:aws:sns:us-east-1:000000000000:AmazonPaySimulator-" + name
}

var topicUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// notifyStateChangeLocked is the hook operations call wherever a Charge,
// Refund or Charge Permission changes state: it queues a STATE_CHANGE
// notification to each of the merchant's endpoints. It only queues, so it
// is cheap under the lock and never waits for a receiver.
func (s *Simulator) notifyStateChangeLocked(objectType, objectID, chargePermissionID, merchant string, at time.Time) {
	if s.closed || s.notify == nil {
		return
	}
	for _, ep := range s.endpointsOfLocked(merchant) {
		msg, err := jsonMarshal(ipnMessage{
			MerchantID: merchant, ObjectType: objectType, ObjectID: objectID,
			ChargePermissionID: chargePermissionID, NotificationType: notificationStateChange,
			NotificationID: newUUID(), NotificationVersion: notificationVersion,
		})
		if err != nil {
			continue
		}
		s.notify.enqueue(&delivery{
			env: snsEnvelope{
				Type: "Notification", MessageID: newUUID(), TopicArn: topicArn(merchant), Message: string(msg),
				Timestamp: at.UTC().Format("2006-01-02T15:04:05.000Z"), SignatureVersion: ep.SignatureVersion,
			},
			endpointID: ep.ID, url: ep.URL, objectType: objectType, objectID: objectID,
		})
	}
}

// endpointsOfLocked lists a merchant's endpoints, oldest first.
func (s *Simulator) endpointsOfLocked(merchant string) []*notificationEndpoint {
	var out []*notificationEndpoint
	for _, ep := range s.endpoints {
		if ep.Merchant == merchant {
			out = append(out, ep)
		}
	}
	sortEndpoints(out)
	return out
}

func sortEndpoints(eps []*notificationEndpoint) {
	for i := 1; i < len(eps); i++ {
		for j := i; j > 0 && (eps[j].Created.Before(eps[j-1].Created) ||
			(eps[j].Created.Equal(eps[j-1].Created) && eps[j].ID < eps[j-1].ID)); j-- {
			eps[j], eps[j-1] = eps[j-1], eps[j]
		}
	}
}

type endpointInput struct {
	URL              string `json:"url"`
	MerchantID       string `json:"merchantId"`
	SignatureVersion string `json:"signatureVersion"`
}

// AddNotificationEndpoint registers url to receive merchantID's
// notifications ("" = the default merchant) signed with SNS
// SignatureVersion "1" (SHA1withRSA, SNS's default; "" means it) or "2"
// (SHA256withRSA), and returns the endpoint's id. It is confirmed at once:
// Amazon Pay merchants enter their IPN URL in Seller Central and receive no
// SubscriptionConfirmation. The control API's POST
// /simulator/notificationEndpoints does the same.
func (s *Simulator) AddNotificationEndpoint(rawURL, merchantID, signatureVersion string) (string, error) {
	ep, e := s.addEndpoint(endpointInput{URL: rawURL, MerchantID: merchantID, SignatureVersion: signatureVersion})
	if e != nil {
		return "", fmt.Errorf("simulator: %s", e.Message)
	}
	return ep.ID, nil
}

func (s *Simulator) addEndpoint(in endpointInput) (*notificationEndpoint, *apiError) {
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errorf(400, "InvalidParameterValue", "url must be an absolute http(s) URL.")
	}
	switch in.SignatureVersion {
	case "":
		in.SignatureVersion = "1" // SNS's default
	case "1", "2":
	default:
		return nil, errorf(400, "InvalidParameterValue", "signatureVersion must be \"1\" or \"2\".")
	}
	if in.MerchantID == "" {
		in.MerchantID = defaultMerchant
	}
	ep := &notificationEndpoint{
		ID: newUUID(), Merchant: in.MerchantID, URL: in.URL, SignatureVersion: in.SignatureVersion,
		Created: s.clock.Now(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints[ep.ID] = ep
	s.putRecordLocked(kindNotificationEndpoint, ep.ID, ep)
	s.persistLocked()
	return ep, nil
}

// controlAddEndpoint registers a notification endpoint (see
// AddNotificationEndpoint).
func (s *Simulator) controlAddEndpoint(body []byte) (int, any, *apiError) {
	var in endpointInput
	if e := decodeBody(body, &in); e != nil {
		return 0, nil, e
	}
	ep, e := s.addEndpoint(in)
	if e != nil {
		return 0, nil, e
	}
	return 201, ep, nil
}

func (s *Simulator) controlListEndpoints(merchant string) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var eps []*notificationEndpoint
	if merchant != "" {
		eps = s.endpointsOfLocked(merchant)
	} else {
		for _, ep := range s.endpoints {
			eps = append(eps, ep)
		}
		sortEndpoints(eps)
	}
	if eps == nil {
		eps = []*notificationEndpoint{}
	}
	return 200, map[string]any{"notificationEndpoints": eps}, nil
}

func (s *Simulator) controlDeleteEndpoint(id string) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := s.endpoints[id]
	if ep == nil {
		return 0, nil, errorf(404, "ResourceNotFound", "The notification endpoint %s does not exist.", id)
	}
	delete(s.endpoints, id)
	s.putRecordLocked(kindNotificationEndpoint, id, nil)
	s.persistLocked()
	return 200, ep, nil
}

// restoreEndpoint puts a persisted endpoint back.
func (s *Simulator) restoreEndpoint(doc []byte) error {
	var ep notificationEndpoint
	if err := json.Unmarshal(doc, &ep); err != nil {
		return err
	}
	s.endpoints[ep.ID] = &ep
	return nil
}
