package simulator

import (
	"maps"
	"net/http"
	"strings"
	"time"
)

// serveControl serves the simulator's own API under /simulator/. It is not
// part of Amazon Pay and needs no signature.
func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/simulator/"), "/")
	seg := strings.Split(path, "/")
	body, aerr := readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var (
		status int
		v      any
	)
	switch {
	case path == "healthz" && r.Method == http.MethodGet:
		status, v = 200, s.healthView()
	case path == "publicKeys" && r.Method == http.MethodPost:
		status, v, aerr = s.controlRegisterKey(body)
	case len(seg) == 3 && seg[0] == "checkoutSessions" && seg[2] == "buyer" && r.Method == http.MethodPost:
		status, v, aerr = s.controlBuyer(seg[1], body, buyerSignInAndPay)
	case len(seg) == 3 && seg[0] == "checkoutSessions" && seg[2] == "signIn" && r.Method == http.MethodPost:
		status, v, aerr = s.controlBuyer(seg[1], body, buyerSignIn)
	case len(seg) == 3 && seg[0] == "checkoutSessions" && seg[2] == "pay" && r.Method == http.MethodPost:
		status, v, aerr = s.controlBuyer(seg[1], body, buyerPay)
	case len(seg) == 3 && seg[0] == "checkoutSessions" && seg[2] == "calls" && r.Method == http.MethodGet:
		status, v, aerr = s.controlCalls(seg[1])
	case path == "buyerTokens" && r.Method == http.MethodPost:
		status, v, aerr = s.controlBuyerToken(body)
	case len(seg) == 3 && seg[0] == "refunds" && seg[2] == "outcome" && r.Method == http.MethodPost:
		status, v, aerr = s.controlRefundOutcome(seg[1], body)
	case path == "notificationEndpoints" && r.Method == http.MethodPost:
		status, v, aerr = s.controlAddEndpoint(body)
	case path == "notificationEndpoints" && r.Method == http.MethodGet:
		status, v, aerr = s.controlListEndpoints(r.URL.Query().Get("merchantId"))
	case len(seg) == 2 && seg[0] == "notificationEndpoints" && r.Method == http.MethodDelete:
		status, v, aerr = s.controlDeleteEndpoint(seg[1])
	case len(seg) == 3 && seg[0] == "notificationEndpoints" && seg[2] == "unsubscribe" && r.Method == http.MethodGet:
		// SNS's UnsubscribeURL is a plain GET link.
		status, v, aerr = s.controlDeleteEndpoint(seg[1])
	case path == "notifications" && r.Method == http.MethodGet:
		status, v = 200, map[string]any{"notifications": s.notify.deliveries()}
	case len(seg) == 2 && seg[0] == "sns" && r.Method == http.MethodGet:
		pemBytes, ok := s.notify.certFor(r.URL.Path)
		if !ok {
			aerr = errorf(404, "ResourceNotFound", "Unknown signing certificate.")
			break
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.WriteHeader(200)
		_, _ = w.Write(pemBytes)
		return
	case path == "faults" && r.Method == http.MethodPost:
		status, v, aerr = s.controlAddFault(body)
	case path == "faults" && r.Method == http.MethodDelete:
		s.mu.Lock()
		clear(s.faults)
		s.mu.Unlock()
		status, v = 200, map[string]any{"faults": []any{}}
	case path == "faults" && r.Method == http.MethodGet:
		status, v = 200, map[string]any{"faults": s.listFaults()}
	case path == "clock" && r.Method == http.MethodPost:
		status, v, aerr = s.controlAdvance(body)
	case path == "clock" && r.Method == http.MethodGet:
		status, v = 200, s.clockView()
	default:
		aerr = errorf(404, "ResourceNotFound", "Unknown control API resource.")
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, status, v)
}

type publicKeyInput struct {
	PublicKeyID  string `json:"publicKeyId"`
	PublicKeyPEM string `json:"publicKeyPem"`
	MerchantID   string `json:"merchantId"`
}

func (s *Simulator) controlRegisterKey(body []byte) (int, any, *apiError) {
	var in publicKeyInput
	if e := decodeBody(body, &in); e != nil {
		return 0, nil, e
	}
	if in.PublicKeyID == "" || in.PublicKeyPEM == "" {
		return 0, nil, errorf(400, "MissingParameterValue", "publicKeyId and publicKeyPem are required.")
	}
	pub, err := parsePublicKeyPEM(in.PublicKeyPEM)
	if err != nil {
		return 0, nil, errorf(400, "InvalidParameterValue", "publicKeyPem: %v.", err)
	}
	if err := s.RegisterPublicKey(in.PublicKeyID, pub, in.MerchantID); err != nil {
		return 0, nil, errorf(400, "InvalidParameterValue", "%v", err)
	}
	merchant := in.MerchantID
	if merchant == "" {
		merchant = defaultMerchant
	}
	return 201, map[string]string{"publicKeyId": in.PublicKeyID, "merchantId": merchant}, nil
}

type buyerInput struct {
	Scenario string `json:"scenario"`
}

var scenarios = map[string]bool{
	scenarioAuthorized: true, scenarioBuyerCanceled: true, scenarioDeclined: true,
	scenarioPendingThenAuthorized: true, scenarioPendingThenDeclined: true,
}

// scenarioCards are the sandbox's simulated instruments behind each
// scenario, shown as the buyer's payment descriptor.
var scenarioCards = map[string]string{
	scenarioAuthorized:            "Visa ****1111",
	scenarioBuyerCanceled:         "Visa ****3064",
	scenarioDeclined:              "Visa ****3434",
	scenarioPendingThenAuthorized: "Visa ****0701",
	scenarioPendingThenDeclined:   "Visa ****4354",
}

// The buyer's two moments on Amazon's pages, as the control API plays them.
const (
	// buyerSignIn: the buyer signs in through the Amazon Pay button and
	// chooses address and instrument; the shop then reads them (Get
	// Checkout Session) and calls Update. Allowed before Update.
	buyerSignIn = iota
	// buyerPay: the buyer confirms on the amazonPayRedirectUrl page, which
	// exists once every constraint is cleared (after Update).
	buyerPay
	// buyerSignInAndPay: both at once, for tests that only need a buyer
	// who finished; needs the merchant's Update done, like buyerPay.
	buyerSignInAndPay
)

// controlBuyer plays the buyer on Amazon's pages (see buyerSignIn,
// buyerPay, buyerSignInAndPay).
func (s *Simulator) controlBuyer(id string, body []byte, step int) (int, any, *apiError) {
	var in buyerInput
	if e := decodeBody(body, &in); e != nil {
		return 0, nil, e
	}
	switch {
	case step == buyerPay && in.Scenario != "":
		return 0, nil, errorf(400, "InvalidParameterValue", "The buyer chose the instrument when signing in; pay takes no scenario.")
	case step == buyerSignIn && in.Scenario == "":
		in.Scenario = scenarioAuthorized
	}
	if step != buyerPay && !scenarios[in.Scenario] {
		return 0, nil, errorf(400, "InvalidParameterValue", "scenario must be one of Authorized, BuyerCanceled, Declined, PendingThenAuthorized, PendingThenDeclined.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.persistLocked()
	sess := s.sessions[id]
	now := s.clock.Now()
	if sess == nil || sess.pastRetention(now) {
		return 0, nil, errorf(404, "ResourceNotFound", "The Checkout Session %s does not exist.", id)
	}
	s.refreshSessionLocked(sess, now)
	if sess.State != stateOpen {
		return 0, nil, errorf(422, "InvalidCheckoutSessionStatus", "The Checkout Session is %s, not Open.", sess.State)
	}
	if sess.Scenario != "" && !sess.AwaitingPayment {
		return 0, nil, errorf(422, "InvalidCheckoutSessionStatus", "The buyer has already paid; complete the Checkout Session.")
	}
	switch step {
	case buyerPay:
		if sess.Scenario == "" {
			return 0, nil, errorf(422, "InvalidCheckoutSessionStatus", "No buyer has signed in yet: there is no amazonPayRedirectUrl to pay on.")
		}
		fallthrough
	case buyerSignInAndPay:
		if !sess.merchantReady() {
			return 0, nil, errorf(422, "InvalidCheckoutSessionStatus", "The buyer cannot be sent to amazonPayRedirectUrl yet: constraints %s remain.", describe(sess.merchantConstraints()))
		}
	}
	if step != buyerPay {
		sess.Scenario = in.Scenario
		fillBuyer(sess, in.Scenario)
		sess.AwaitingPayment = true
	}
	if step != buyerSignIn {
		sess.AwaitingPayment = false
		switch sess.Scenario {
		case scenarioBuyerCanceled:
			sess.State, sess.ReasonCode = stateCanceled, "BuyerCanceled"
			sess.ReasonDescription = "The buyer canceled the checkout."
		case scenarioDeclined:
			sess.State, sess.ReasonCode = stateCanceled, "Declined"
			sess.ReasonDescription = "The buyer's payment was declined."
		}
	}
	sess.LastUpdated = now
	s.changedLocked(sess.ID)
	return 200, sess.json(), nil
}

func sp(s string) *string { return &s }

// fillBuyer gives the session fake but realistic buyer data for its region.
func fillBuyer(sess *sessionRecord, scenario string) {
	var addr address
	phone := "+1 206-555-0100"
	switch sess.Region {
	case "eu":
		phone = "+49 30 5550100"
		addr = address{Name: sp("Erika Mustermann"), AddressLine1: sp("Musterstrasse 1"), City: sp("Berlin"),
			PostalCode: sp("10115"), CountryCode: sp("DE"), PhoneNumber: sp(phone)}
	case "jp":
		phone = "+81 3-5550-0100"
		addr = address{Name: sp("Hanako Yamada"), AddressLine1: sp("1-2-3 Chiyoda"), City: sp("Chiyoda-ku"),
			StateOrRegion: sp("Tokyo"), PostalCode: sp("100-0001"), CountryCode: sp("JP"), PhoneNumber: sp(phone)}
	default:
		addr = address{Name: sp("Jane Doe"), AddressLine1: sp("410 Terry Ave N"), City: sp("Seattle"),
			StateOrRegion: sp("WA"), PostalCode: sp("98109"), CountryCode: sp("US"), PhoneNumber: sp(phone)}
	}
	sess.Buyer = &buyer{
		BuyerID:     "amzn1.account." + strings.ToUpper(strings.ReplaceAll(newUUID(), "-", ""))[:28],
		Name:        *addr.Name,
		Email:       "buyer-" + sess.ID[:8] + "@example.com",
		PhoneNumber: sp(phone),
	}
	billing := addr
	sess.BillingAddress = &billing
	sess.ShippingAddress = nil
	if sess.ProductType == "PayAndShip" || sess.ProductType == "" {
		shipping := addr
		sess.ShippingAddress = &shipping
	}
	sess.PaymentPreferences = []paymentPreference{{PaymentDescriptor: scenarioCards[scenario]}}
}

func (s *Simulator) controlCalls(id string) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[id] == nil {
		return 0, nil, errorf(404, "ResourceNotFound", "The Checkout Session %s does not exist.", id)
	}
	out := map[string]int{}
	maps.Copy(out, s.calls[id])
	return 200, out, nil
}

type faultInput struct {
	Operation string `json:"operation"`
	Kind      string `json:"kind"`
	Count     *int   `json:"count"`
	Latency   string `json:"latency"`
}

func (s *Simulator) controlAddFault(body []byte) (int, any, *apiError) {
	var in faultInput
	if e := decodeBody(body, &in); e != nil {
		return 0, nil, e
	}
	if !operations[in.Operation] {
		return 0, nil, errorf(400, "InvalidParameterValue", "Unknown operation %q.", in.Operation)
	}
	if !faultKinds[in.Kind] {
		return 0, nil, errorf(400, "InvalidParameterValue", "Unknown fault kind %q.", in.Kind)
	}
	f := &fault{Operation: in.Operation, Kind: in.Kind, Count: 1}
	if in.Count != nil {
		if *in.Count < 1 {
			return 0, nil, errorf(400, "InvalidParameterValue", "count must be at least 1.")
		}
		f.Count = *in.Count
	}
	if in.Kind == FaultLatency || in.Kind == FaultSlowResponse {
		d, err := time.ParseDuration(in.Latency)
		if err != nil || d <= 0 {
			return 0, nil, errorf(400, "InvalidParameterValue", "latency must be a positive duration such as \"2s\".")
		}
		f.Latency = d
	}
	s.mu.Lock()
	s.faults[f.Operation] = append(s.faults[f.Operation], f)
	s.mu.Unlock()
	return 201, faultView(f), nil
}

func faultView(f *fault) map[string]any {
	v := map[string]any{"operation": f.Operation, "kind": f.Kind, "count": f.Count}
	if f.Latency > 0 {
		v["latency"] = f.Latency.String()
	}
	return v
}

func (s *Simulator) listFaults() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, q := range s.faults {
		for _, f := range q {
			out = append(out, faultView(f))
		}
	}
	return out
}

type advanceInput struct {
	Advance string `json:"advance"`
}

// healthView says the simulator is up and how it was started, so a test
// in any language can check it runs on the clock and quotas it expects.
func (s *Simulator) healthView() map[string]any {
	clock := "real"
	if _, fake := s.clock.(*FakeClock); fake {
		clock = "manual"
	}
	return map[string]any{"status": "ok", "clock": clock, "throttle": s.throttleSetting}
}

// clockView is the answer of the clock resource.
func (s *Simulator) clockView() map[string]any {
	_, fake := s.clock.(*FakeClock)
	return map[string]any{"now": stamp(s.clock.Now()), "manual": fake}
}

// controlAdvance moves a manual (fake) clock forward and runs what came
// due meanwhile (pending settlements, expiries are applied when next
// read); on real time it is refused.
func (s *Simulator) controlAdvance(body []byte) (int, any, *apiError) {
	fc, ok := s.clock.(*FakeClock)
	if !ok {
		return 0, nil, errorf(409, "UnsupportedOperation", "The simulator runs on real time; start it with a manual clock to advance it.")
	}
	var in advanceInput
	if e := decodeBody(body, &in); e != nil {
		return 0, nil, e
	}
	d, err := time.ParseDuration(in.Advance)
	if err != nil || d < 0 {
		return 0, nil, errorf(400, "InvalidParameterValue", "advance must be a non-negative duration such as \"25h\" or \"30s\".")
	}
	// Not under s.mu: due settlements take it.
	fc.Advance(d)
	s.mu.Lock()
	now := fc.Now()
	if s.manual {
		s.putRecordLocked(kindClock, "manual", now)
		s.persistLocked()
	}
	s.mu.Unlock()
	return 200, s.clockView(), nil
}
