package completion

import "testing"

func TestRecentSessions(t *testing.T) {
	t.Parallel()
	r := newRecentSessions(3)
	steps := []struct {
		id   string
		want bool
	}{
		{"a", true}, {"a", false}, {"b", true}, {"c", true}, {"b", false},
		{"d", true},  // forgets a, the oldest
		{"a", true},  // so a is new again, and b is forgotten
		{"c", false}, // c is still remembered
		{"b", true},
	}
	for i, s := range steps {
		if got := r.add(s.id); got != s.want {
			t.Errorf("step %d: add(%q) = %v, want %v", i, s.id, got, s.want)
		}
	}
	if len(r.seen) != 3 || len(r.ring) != 3 {
		t.Errorf("remembers %d (ring %d), want 3", len(r.seen), len(r.ring))
	}
}
