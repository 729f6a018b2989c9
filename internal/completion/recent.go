package completion

import "sync"

// recentSessionsKept is how many checkout sessions a Service remembers as
// seen; a storefront's repeats (double clicks, retries) come within seconds.
const recentSessionsKept = 4096

// recentSessions remembers the last n checkout sessions this process was
// asked to complete. It only steers an optimisation (signing ahead); the
// store alone decides whether a call is a duplicate.
type recentSessions struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string // the remembered IDs, oldest at next once full
	next int
}

func newRecentSessions(n int) *recentSessions {
	return &recentSessions{seen: make(map[string]struct{}, n), ring: make([]string, 0, n)}
}

// add remembers id and reports whether it was not remembered before.
func (r *recentSessions) add(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[id]; ok {
		return false
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, id)
	} else {
		delete(r.seen, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % len(r.ring)
	}
	r.seen[id] = struct{}{}
	return true
}
