package simulator

import (
	"testing"
	"time"
)

// An operation whose object is named in the body (bodyObjectField) is
// counted for that object's session before it is applied, so a call that a
// fault stops is counted too. Not parallel: it changes a package variable.
func TestCountByBodyObjectField(t *testing.T) {
	bodyObjectField["TestCreateThing"] = "chargePermissionId"
	defer delete(bodyObjectField, "TestCreateThing")
	s, err := New(Options{Clock: NewFakeClock(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions["sess-1"] = &sessionRecord{ID: "sess-1", Merchant: "m"}
	s.linkLocked("sess-1", "sess-1")
	s.linkLocked("sess-1", "S01-1-1")

	for _, tc := range []struct {
		merchant, body string
		want           int
	}{
		{"m", `{"chargePermissionId":"S01-1-1","chargeAmount":{}}`, 1},
		{"m", `{"chargePermissionId":"S01-9-9"}`, 1}, // unknown object
		{"other", `{"chargePermissionId":"S01-1-1"}`, 1},
		{"m", `not json`, 1},
		{"m", `{"chargePermissionId":"S01-1-1"}`, 2},
	} {
		c := &call{route: route{op: "TestCreateThing"}, merchant: tc.merchant, body: []byte(tc.body)}
		s.countLocked(c)
		if c.counted {
			s.attributeLocked(c, "S01-1-1") // counted once per call
		}
		if got := s.calls["sess-1"]["TestCreateThing"]; got != tc.want {
			t.Errorf("after %s %s: %d calls, want %d", tc.merchant, tc.body, got, tc.want)
		}
	}
}
