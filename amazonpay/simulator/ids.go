package simulator

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// newUUID returns a random (version 4) UUID, the form of checkout session ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newRequestID returns a value for x-amz-pay-request-id.
func newRequestID() string { return newUUID() }

func randomDigits(n int) string {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, _ := rand.Int(rand.Reader, limit)
	return fmt.Sprintf("%0*d", n, v)
}

func (s *Simulator) newSessionIDLocked() string {
	for {
		id := newUUID()
		if s.sessions[id] == nil {
			return id
		}
	}
}

// regionDigits are the region digits of Amazon's object ids: 01 NA, 02 EU,
// 03 JP.
var regionDigits = map[string]string{"na": "1", "eu": "2", "jp": "3"}

// newChargePermissionIDLocked returns an id like S01-1234567-1234567: S for
// sandbox (P for live), then the region.
func (s *Simulator) newChargePermissionIDLocked(env, region string) string {
	letter := "S"
	if env == envLive {
		letter = "P"
	}
	digit := regionDigits[region]
	if digit == "" {
		digit = "1"
	}
	for {
		id := letter + "0" + digit + "-" + randomDigits(7) + "-" + randomDigits(7)
		if s.perms[id] == nil {
			return id
		}
	}
}

// newChargeIDLocked returns a charge id: the permission id, "-C" and six
// digits.
func (s *Simulator) newChargeIDLocked(cpID string) string {
	for {
		id := cpID + "-C" + randomDigits(6)
		if s.charges[id] == nil {
			return id
		}
	}
}
