package watch_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/watch"
)

// received reports whether ch has a notification within 50ms of
// synctest's clock: at once when one is there (Publish does not wait), and
// without waiting in real time when none is.
func received(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

func TestHub(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := watch.NewHub()
		a, stopA := h.Subscribe("s1")
		b, stopB := h.Subscribe("s2")
		defer stopB()

		h.Publish("s1")
		h.Publish("s1") // coalesces with the first
		if !received(a) {
			t.Fatal("subscriber of s1 not notified")
		}
		if received(a) {
			t.Fatal("two publishes before a read must coalesce into one notification")
		}
		if received(b) {
			t.Fatal("subscriber of s2 notified of s1")
		}

		h.Publish("") // everything may have changed
		if !received(a) || !received(b) {
			t.Fatal("an empty ID must notify every subscriber")
		}

		stopA()
		stopA() // idempotent
		if n := h.Subscribers(); n != 1 {
			t.Fatalf("%d subscribers after one stopped, want 1", n)
		}
		h.Publish("s1")
		if received(a) {
			t.Fatal("a stopped subscription was notified")
		}
	})
}
