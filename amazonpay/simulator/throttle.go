package simulator

import (
	"fmt"
	"time"
)

// Throttle settings (Options.Throttle).
const (
	ThrottleNone    = "none"
	ThrottleSandbox = "sandbox"
	ThrottleLive    = "live"
)

// quota is one operation's token bucket: burst requests at once ("max
// quota"), refilled at perSecond ("restore rate").
type quota struct {
	burst     float64
	perSecond float64
}

// Amazon's published quotas (docs amazon-pay-api-v2/api-throttling-limits,
// the Japanese page's US table), counted per merchant account and
// operation. Operations not listed (Finalize, Get Buyer) are not throttled.
var (
	liveQuotas = map[string]quota{
		OpCompleteCheckoutSession: {20, 4},
		OpGetCheckoutSession:      {40, 8},
		OpCreateCheckoutSession:   {40, 16},
		OpUpdateCheckoutSession:   {20, 8},
		OpGetCharge:               {20, 4},
		OpCreateCharge:            {10, 4},
		OpCaptureCharge:           {20, 4},
		OpCancelCharge:            {10, 2},
		OpGetChargePermission:     {20, 4},
		OpUpdateChargePermission:  {10, 2},
		OpCloseChargePermission:   {10, 2},
		OpCreateRefund:            {10, 4},
		OpGetRefund:               {20, 4},
	}
	sandboxQuotas = map[string]quota{
		OpCompleteCheckoutSession: {2, 1},
		OpGetCheckoutSession:      {10, 1},
		OpCreateCheckoutSession:   {5, 1},
		OpUpdateCheckoutSession:   {5, 1},
		OpGetCharge:               {5, 1},
		OpCreateCharge:            {2, 1},
		OpCaptureCharge:           {2, 1},
		OpCancelCharge:            {2, 1},
		OpGetChargePermission:     {10, 1},
		OpUpdateChargePermission:  {5, 1},
		OpCloseChargePermission:   {2, 1},
		OpCreateRefund:            {2, 1},
		OpGetRefund:               {5, 1},
	}
)

func quotasFor(setting string) (map[string]quota, error) {
	switch setting {
	case "", ThrottleNone:
		return nil, nil
	case ThrottleSandbox:
		return sandboxQuotas, nil
	case ThrottleLive:
		return liveQuotas, nil
	}
	return nil, fmt.Errorf("simulator: throttle %q: want %s, %s or %s", setting, ThrottleNone, ThrottleSandbox, ThrottleLive)
}

type bucketKey struct{ merchant, op string }

// bucket is a token bucket's state as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

// throttledLocked takes a token for the call's merchant and operation and
// reports whether none was left. Buckets start full and refill on the
// simulator's clock (so a manual clock refills them only when advanced).
func (s *Simulator) throttledLocked(c *call) bool {
	q, ok := s.throttle[c.op]
	if !ok {
		return false
	}
	k := bucketKey{c.merchant, c.op}
	b := s.buckets[k]
	if b == nil {
		b = &bucket{tokens: q.burst, at: c.now}
		s.buckets[k] = b
	}
	if elapsed := c.now.Sub(b.at); elapsed > 0 {
		b.tokens = min(q.burst, b.tokens+elapsed.Seconds()*q.perSecond)
		b.at = c.now
	}
	if b.tokens < 1 {
		return true
	}
	b.tokens--
	return false
}
