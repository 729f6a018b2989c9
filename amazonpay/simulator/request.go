package simulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Operation names, as used by the control API (calls, faults).
const (
	OpCreateCheckoutSession   = "CreateCheckoutSession"
	OpGetCheckoutSession      = "GetCheckoutSession"
	OpUpdateCheckoutSession   = "UpdateCheckoutSession"
	OpCompleteCheckoutSession = "CompleteCheckoutSession"
	OpGetCharge               = "GetCharge"
	OpCaptureCharge           = "CaptureCharge"
	OpCancelCharge            = "CancelCharge"
	OpGetChargePermission     = "GetChargePermission"
	OpFinalizeCheckoutSession = "FinalizeCheckoutSession"
	OpCreateCharge            = "CreateCharge"
	OpUpdateChargePermission  = "UpdateChargePermission"
	OpCloseChargePermission   = "CloseChargePermission"
	OpCreateRefund            = "CreateRefund"
	OpGetRefund               = "GetRefund"
	OpGetBuyer                = "GetBuyer"
)

// operations lists every operation the simulator serves.
var operations = map[string]bool{
	OpCreateCheckoutSession: true, OpGetCheckoutSession: true, OpUpdateCheckoutSession: true,
	OpCompleteCheckoutSession: true, OpGetCharge: true, OpCaptureCharge: true, OpCancelCharge: true,
	OpGetChargePermission: true, OpFinalizeCheckoutSession: true, OpCreateCharge: true,
	OpUpdateChargePermission: true, OpCloseChargePermission: true, OpCreateRefund: true, OpGetRefund: true,
	OpGetBuyer: true,
}

// route is a resolved API request.
type route struct {
	op  string
	id  string // resource id from the path, "" for Create
	env string // "sandbox", "live" or "" (from the key)
}

// resolveRoute maps method and path to an operation. A path that names no
// resource answers 404; a known resource with the wrong method 405.
func resolveRoute(method, path string) (route, *apiError) {
	var rt route
	switch {
	case strings.HasPrefix(path, "/v2/"):
		path = strings.TrimPrefix(path, "/v2/")
	case strings.HasPrefix(path, "/sandbox/v2/"):
		path, rt.env = strings.TrimPrefix(path, "/sandbox/v2/"), envSandbox
	case strings.HasPrefix(path, "/live/v2/"):
		path, rt.env = strings.TrimPrefix(path, "/live/v2/"), envLive
	default:
		return rt, errorf(404, "ResourceNotFound", "The requested resource does not exist.")
	}
	path = strings.TrimSuffix(path, "/")
	seg := strings.Split(path, "/")
	for _, p := range seg {
		if p == "" {
			return rt, errorf(404, "ResourceNotFound", "The requested resource does not exist.")
		}
	}
	notAllowed := errorf(405, "UnsupportedOperation", "The HTTP method %s is not supported for this resource.", method)
	switch {
	case len(seg) == 1 && seg[0] == "checkoutSessions":
		if method != http.MethodPost {
			return rt, notAllowed
		}
		rt.op = OpCreateCheckoutSession
	case len(seg) == 2 && seg[0] == "checkoutSessions":
		rt.id = seg[1]
		switch method {
		case http.MethodGet:
			rt.op = OpGetCheckoutSession
		case http.MethodPatch:
			rt.op = OpUpdateCheckoutSession
		default:
			return rt, notAllowed
		}
	case len(seg) == 3 && seg[0] == "checkoutSessions" && seg[2] == "complete":
		rt.id = seg[1]
		if method != http.MethodPost {
			return rt, notAllowed
		}
		rt.op = OpCompleteCheckoutSession
	case len(seg) == 3 && seg[0] == "checkoutSessions" && seg[2] == "finalize":
		rt.id = seg[1]
		if method != http.MethodPost {
			return rt, notAllowed
		}
		rt.op = OpFinalizeCheckoutSession
	case len(seg) == 1 && seg[0] == "charges":
		if method != http.MethodPost {
			return rt, notAllowed
		}
		rt.op = OpCreateCharge
	case len(seg) == 1 && seg[0] == "refunds":
		if method != http.MethodPost {
			return rt, notAllowed
		}
		rt.op = OpCreateRefund
	case len(seg) == 2 && seg[0] == "refunds":
		rt.id = seg[1]
		if method != http.MethodGet {
			return rt, notAllowed
		}
		rt.op = OpGetRefund
	case len(seg) == 2 && seg[0] == "buyers":
		rt.id = seg[1]
		if method != http.MethodGet {
			return rt, notAllowed
		}
		rt.op = OpGetBuyer
	case len(seg) == 3 && seg[0] == "chargePermissions" && seg[2] == "close":
		rt.id = seg[1]
		if method != http.MethodDelete {
			return rt, notAllowed
		}
		rt.op = OpCloseChargePermission
	case len(seg) == 2 && seg[0] == "charges":
		rt.id = seg[1]
		if method != http.MethodGet {
			return rt, notAllowed
		}
		rt.op = OpGetCharge
	case len(seg) == 3 && seg[0] == "charges" && seg[2] == "capture":
		rt.id = seg[1]
		if method != http.MethodPost {
			return rt, notAllowed
		}
		rt.op = OpCaptureCharge
	case len(seg) == 3 && seg[0] == "charges" && seg[2] == "cancel":
		rt.id = seg[1]
		if method != http.MethodDelete {
			return rt, notAllowed
		}
		rt.op = OpCancelCharge
	case len(seg) == 2 && seg[0] == "chargePermissions":
		rt.id = seg[1]
		switch method {
		case http.MethodGet:
			rt.op = OpGetChargePermission
		case http.MethodPatch:
			rt.op = OpUpdateChargePermission
		default:
			return rt, notAllowed
		}
	default:
		return rt, errorf(404, "ResourceNotFound", "The requested resource does not exist.")
	}
	return rt, nil
}

// regionCodes maps the x-amz-pay-region values the SDKs send (any case) to
// Amazon's three regions.
var regionCodes = map[string]string{"na": "na", "us": "na", "eu": "eu", "de": "eu", "uk": "eu", "jp": "jp"}

var idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// call is an authenticated API request being applied.
type call struct {
	route
	method         string
	path           string // URL path as sent
	merchant       string
	region         string
	body           []byte
	idemKey        string
	simulationCode string
	now            time.Time
	// sessionID is the checkout session the call is attributed to in the
	// call counts; Create sets it once the session exists.
	sessionID string
	counted   bool
}

// rawPath returns the request path exactly as the client sent it.
func rawPath(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") {
		if u, err := url.Parse(uri); err == nil && u.Path != "" {
			return u.EscapedPath()
		}
		return r.URL.EscapedPath()
	}
	p, _, _ := strings.Cut(uri, "?")
	return p
}

// authenticate checks the request the way Amazon does. Order: the
// authorization header must parse (400), the date, host and region headers
// must be signed (403), the key must be registered (403) and the signature
// must verify (403); only then are header values judged (400), so an
// unauthenticated caller learns nothing but 403.
func (s *Simulator) authenticate(r *http.Request, body []byte) (*keyRecord, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errorf(400, "MissingHeader", "The authorization header is missing.")
	}
	a, err := parseAuthorization(h)
	if err != nil {
		return nil, errorf(400, "InvalidHeaderValue", "The authorization header is invalid: %v.", err)
	}
	if _, ok := saltLength(a.Algorithm); !ok {
		return nil, errorf(400, "InvalidHeaderValue", "The signature algorithm %q is not supported.", a.Algorithm)
	}
	signed := map[string]bool{}
	for _, n := range a.headerNames() {
		signed[n] = true
	}
	for _, required := range []string{"x-amz-pay-date", "x-amz-pay-host", "x-amz-pay-region"} {
		if !signed[required] {
			return nil, errorf(403, "InvalidRequestSignature", "The header %s must be signed.", required)
		}
		if _, ok := headerValue(r, required); !ok {
			return nil, errorf(400, "MissingHeader", "The header %s is missing.", required)
		}
	}
	s.mu.Lock()
	key := s.keys[a.PublicKeyID]
	s.mu.Unlock()
	if key == nil {
		return nil, errorf(403, "InvalidRequestSignature", "Unable to verify signature: unknown public key id.")
	}
	if err := verifySignature(r, rawPath(r), body, a, key.pub); err != nil {
		return nil, errorf(403, "InvalidRequestSignature", "Unable to verify signature, signing String [%s].", a.Algorithm)
	}
	return key, nil
}

// checkHeaders judges the signed header values and the idempotency key.
func (s *Simulator) checkHeaders(r *http.Request, c *call) *apiError {
	d, _ := headerValue(r, "x-amz-pay-date")
	t, err := parseAmzDate(d)
	if err != nil {
		return errorf(400, "InvalidHeaderValue", "The value provided for x-amz-pay-date is invalid.")
	}
	if diff := s.dateClock.Now().Sub(t); diff > s.skew || diff < -s.skew {
		return errorf(400, "InvalidHeaderValue", "The value provided for x-amz-pay-date is outside the accepted window of %s.", s.skew)
	}
	region, _ := headerValue(r, "x-amz-pay-region")
	c.region = regionCodes[strings.ToLower(strings.TrimSpace(region))]
	if c.region == "" {
		return errorf(400, "InvalidHeaderValue", "The value provided for x-amz-pay-region is invalid.")
	}
	if r.Method == http.MethodPost {
		if vs, ok := r.Header["X-Amz-Pay-Idempotency-Key"]; ok {
			k := strings.TrimSpace(strings.Join(vs, ","))
			if !idempotencyKeyPattern.MatchString(k) {
				return errorf(400, "InvalidHeaderValue", "The value provided for x-amz-pay-idempotency-key is invalid: 1 to 32 characters of [A-Za-z0-9_-].")
			}
			c.idemKey = k
		}
	}
	return nil
}

// environmentOf resolves sandbox or live: the path prefix decides for legacy
// keys; environment-specific keys (LIVE-…/SANDBOX-…) decide on /v2/.
func environmentOf(pathEnv, keyID string) string {
	if pathEnv != "" {
		return pathEnv
	}
	if strings.HasPrefix(strings.ToUpper(keyID), "LIVE") {
		return envLive
	}
	return envSandbox
}

func (s *Simulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	rt, aerr := resolveRoute(r.Method, r.URL.Path)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	body, aerr := readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	key, aerr := s.authenticate(r, body)
	if aerr != nil {
		s.logRequest(rt.op, aerr.Status, w)
		writeError(w, aerr)
		return
	}
	c := &call{
		route:    rt,
		method:   r.Method,
		path:     r.URL.Path,
		merchant: key.Merchant,
		body:     body,
		now:      s.clock.Now(),
	}
	c.env = environmentOf(rt.env, key.ID)
	if aerr := s.checkHeaders(r, c); aerr != nil {
		s.logRequest(rt.op, aerr.Status, w)
		writeError(w, aerr)
		return
	}
	if c.env == envSandbox {
		c.simulationCode = strings.TrimSpace(r.Header.Get("x-amz-pay-simulation-code"))
	}

	// Throttled calls never reach the operation: not counted, not applied.
	// Then the call is counted and an injected fault decides whether it is
	// applied and answered.
	s.mu.Lock()
	if s.throttledLocked(c) {
		s.mu.Unlock()
		s.logRequest(c.op, http.StatusTooManyRequests, w)
		writeError(w, errTooManyRequests)
		return
	}
	s.countLocked(c)
	f := s.takeFaultLocked(c.op)
	s.mu.Unlock()
	if f != nil {
		if handled := s.preFault(w, r, f); handled {
			s.logRequest(c.op, 0, w)
			return
		}
	}

	status, resp := s.apply(c)
	if f != nil && f.Kind == FaultLostResponse {
		s.logRequest(c.op, -status, w)
		dropConnection(w)
		return
	}
	if f != nil && f.Kind == FaultSlowResponse && !s.holdAnswer(r, f.Latency) {
		s.logRequest(c.op, -status, w)
		dropConnection(w)
		return
	}
	s.logRequest(c.op, status, w)
	w.WriteHeader(status)
	_, _ = w.Write(resp)
}

func (s *Simulator) logRequest(op string, status int, w http.ResponseWriter) {
	s.log.Debug("amazon pay request", "operation", op, "status", status,
		"requestId", w.Header().Get("x-amz-pay-request-id"))
}

// idemRecord is a saved response for an idempotency key.
type idemRecord struct {
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	BodyHash  string    `json:"bodyHash"`
	Status    int       `json:"status"`
	Response  []byte    `json:"response"`
	SessionID string    `json:"sessionId"`
	Created   time.Time `json:"created"`
}

// apply runs the operation under the state lock, honouring idempotency:
// a POST with a used key and the same method, path and body gets the saved
// answer; with anything changed, 400 DuplicateIdempotencyKey. Only 2xx
// answers are saved, so a request that failed may be retried with its key.
func (s *Simulator) apply(c *call) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.persistLocked()
	sum := sha256.Sum256(c.body)
	bodyHash := hex.EncodeToString(sum[:])
	idemKey := c.merchant + "\x00" + c.idemKey
	if c.idemKey != "" {
		rec, err := s.idemLookupLocked(idemKey)
		if err != nil {
			s.log.Error("simulator: read idempotency record", "err", err)
			return encodeError(errorf(500, "InternalServerError", "An internal server error occurred. Retry the request."))
		}
		if rec != nil {
			if rec.Method != c.method || rec.Path != strings.TrimSuffix(c.path, "/") || rec.BodyHash != bodyHash {
				return encodeError(errorf(400, "DuplicateIdempotencyKey", "The idempotency key %s was already used with a different request.", c.idemKey))
			}
			if c.op == OpCreateCheckoutSession {
				c.sessionID = rec.SessionID
				s.countCreateLocked(c)
			}
			return rec.Status, rec.Response
		}
	}
	status, v, aerr := s.dispatchLocked(c)
	if aerr != nil {
		return encodeError(aerr)
	}
	b, err := jsonMarshal(v)
	if err != nil {
		return encodeError(errorf(500, "InternalServerError", "encoding failed"))
	}
	if c.op == OpCreateCheckoutSession {
		s.countCreateLocked(c)
	}
	if c.idemKey != "" && status/100 == 2 {
		rec := &idemRecord{
			Method: c.method, Path: strings.TrimSuffix(c.path, "/"), BodyHash: bodyHash,
			Status: status, Response: b, SessionID: c.sessionID, Created: c.now,
		}
		if s.db == nil {
			s.idem[idemKey] = rec
		}
		s.putRecordLocked(kindIdempotency, idemKey, rec)
	}
	return status, b
}

func encodeError(e *apiError) (int, []byte) {
	b, _ := jsonMarshal(errorBody{ReasonCode: e.ReasonCode, Message: e.Message})
	return e.Status, b
}

func (s *Simulator) dispatchLocked(c *call) (int, any, *apiError) {
	switch c.op {
	case OpCreateCheckoutSession:
		return s.createSessionLocked(c)
	case OpGetCheckoutSession:
		return s.getSessionLocked(c)
	case OpUpdateCheckoutSession:
		return s.updateSessionLocked(c)
	case OpCompleteCheckoutSession:
		return s.completeSessionLocked(c)
	case OpGetCharge:
		return s.getChargeLocked(c)
	case OpCaptureCharge:
		return s.captureChargeLocked(c)
	case OpCancelCharge:
		return s.cancelChargeLocked(c)
	case OpGetChargePermission:
		return s.getChargePermissionLocked(c)
	case OpFinalizeCheckoutSession:
		return s.completeSessionLocked(c)
	case OpCreateCharge:
		return s.createChargeLocked(c)
	case OpUpdateChargePermission:
		return s.updateChargePermissionLocked(c)
	case OpCloseChargePermission:
		return s.closeChargePermissionLocked(c)
	case OpCreateRefund:
		return s.createRefundLocked(c)
	case OpGetRefund:
		return s.getRefundLocked(c)
	case OpGetBuyer:
		return s.getBuyerLocked(c)
	}
	return 0, nil, errorf(404, "ResourceNotFound", "Unknown operation.")
}

// bodyObjectField names, for operations whose object is not in the path,
// the top-level request field that names it (Create Charge: the charge
// permission). countLocked reads it to attribute the call.
var bodyObjectField = map[string]string{
	OpCreateCharge: "chargePermissionId",
	OpCreateRefund: "chargeId",
}

// countLocked attributes a call to the checkout session of the object it
// names (in the path, or in the body field bodyObjectField gives) and
// counts it there. CreateCheckoutSession is counted once its session
// exists (countCreateLocked).
func (s *Simulator) countLocked(c *call) {
	id := c.id
	if field := bodyObjectField[c.op]; field != "" && id == "" {
		var fields map[string]json.RawMessage
		if json.Unmarshal(c.body, &fields) == nil {
			_ = json.Unmarshal(fields[field], &id)
		}
	}
	if id != "" {
		s.attributeLocked(c, id)
	}
}

// attributeLocked attributes c to the checkout session objectID belongs to
// (see linkLocked) and counts it there, once per call. Objects of another
// merchant, and unknown ones, are not counted.
func (s *Simulator) attributeLocked(c *call, objectID string) {
	if c.counted {
		return
	}
	sid, ok := s.owner[objectID]
	if !ok {
		return
	}
	if sess := s.sessions[sid]; sess == nil || sess.Merchant != c.merchant {
		return
	}
	c.sessionID, c.counted = sid, true
	s.bumpLocked(sid, c.op)
}

func (s *Simulator) countCreateLocked(c *call) {
	if c.sessionID != "" && !c.counted {
		c.counted = true
		s.bumpLocked(c.sessionID, c.op)
	}
}

func (s *Simulator) bumpLocked(sid, op string) {
	m := s.calls[sid]
	if m == nil {
		m = map[string]int{}
		s.calls[sid] = m
	}
	// Counts alone are not written at once (that would cost a write per
	// GET); they go with the session's next change and Close.
	m[op]++
	if s.db != nil {
		s.uncountedCalls[sid] = struct{}{}
	}
}
