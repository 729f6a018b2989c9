package sqlite

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestArrivalRate(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name string
		adds []time.Duration // one operation at each offset from t0
		at   time.Duration
		want float64 // per second
	}{
		{name: "none", at: time.Second, want: 0},
		{name: "one_now", adds: []time.Duration{0}, at: 0, want: 10},
		{name: "one_decayed", adds: []time.Duration{0}, at: rateWindow, want: 10 / math.E},
		{name: "burst", adds: []time.Duration{0, 0, 0, 0, 0}, at: 0, want: 50},
		{name: "clock_backwards_ignored", adds: []time.Duration{time.Second, 0}, at: time.Second, want: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r arrivalRate
			for _, d := range tt.adds {
				r.add(t0.Add(d), 1)
			}
			if got := r.perSecond(t0.Add(tt.at)); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("perSecond = %v, want %v", got, tt.want)
			}
		})
	}

	// A steady stream converges on its rate (within the decay's
	// discretization).
	var r arrivalRate
	now := t0
	for range 1000 {
		now = now.Add(time.Millisecond)
		r.add(now, 2)
	}
	if got := r.perSecond(now); got < 1900 || got > 2100 {
		t.Errorf("2 operations per ms: %v per second, want about 2000", got)
	}
}

// TestCommitPacerLingers runs the pacer through sequences of batch starts:
// it holds batches only when the CPU is saturated at most batch starts and
// writes are frequent enough to gain from waiting.
func TestCommitPacerLingers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		every     time.Duration // between batch starts
		ops       int           // per batch
		saturated func(i int) bool
		want      bool // the decision after 200 batch starts
		wantAny   bool // any batch held
	}{
		{"cpu_bound_many_writes", time.Millisecond, 2, func(int) bool { return true }, true, true},
		{"idle_cpu", time.Millisecond, 2, func(int) bool { return false }, false, false},
		{"bursts_of_runnable_at_light_load", time.Millisecond, 2, func(i int) bool { return i%5 == 0 }, false, false},
		{"cpu_bound_few_writes", 10 * time.Millisecond, 1, func(int) bool { return true }, false, false},
		{"saturation_ends", time.Millisecond, 2, func(i int) bool { return i < 100 }, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			i := 0
			p := &commitPacer{saturated: func() bool { return tt.saturated(i) }}
			now := time.Unix(1_800_000_000, 0)
			var got, held bool
			for ; i < 200; i++ {
				now = now.Add(tt.every)
				got = p.linger(now, tt.ops)
				held = held || got
			}
			if got != tt.want || held != tt.wantAny {
				t.Errorf("last decision %v, any held %v; want %v, %v", got, held, tt.want, tt.wantAny)
			}
		})
	}
}

// TestWriterHoldsBatchWhileCPUBound checks the writer end to end: under a
// pacer that finds the CPU saturated, operations arriving a little apart
// share one transaction; once saturation ends the held batch is committed
// without waiting for lingerMax.
func TestWriterHoldsBatchWhileCPUBound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		saturated  func(calls int64) bool
		stagger    time.Duration
		wantShared bool
	}{
		{"stays_saturated", func(int64) bool { return true }, time.Millisecond, true},
		// The pacer's first call decides to hold; every later check finds
		// the CPU free, so the batch goes after one lingerStep, before the
		// second operation, which would still be within lingerMax.
		{"saturation_ends", func(calls int64) bool { return calls == 1 }, lingerMax * 3 / 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			p := &commitPacer{saturated: func() bool { return tt.saturated(calls.Add(1)) }, busy: 1}
			p.rate.add(time.Now(), 10_000)
			s, err := open(t.Context(), filepath.Join(t.TempDir(), "p.db"), options{every: checkpointEvery, restartFrames: restartFrames, pacer: p})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			// Open's own Ping is a read; the pacer has seen no write yet.
			calls.Store(0)

			var (
				mu  sync.Mutex
				txs []*sql.Tx
				wg  sync.WaitGroup
			)
			for i := range 2 {
				if i > 0 {
					time.Sleep(tt.stagger)
				}
				wg.Go(func() {
					err := s.inTx(t.Context(), "test", func(_ context.Context, tx *sql.Tx) error {
						mu.Lock()
						defer mu.Unlock()
						txs = append(txs, tx)
						return nil
					})
					if err != nil {
						t.Errorf("inTx: %v", err)
					}
				})
			}
			wg.Wait()
			if len(txs) != 2 {
				t.Fatalf("%d operations ran, want 2", len(txs))
			}
			if shared := txs[0] == txs[1]; shared != tt.wantShared {
				t.Errorf("operations %v apart shared a transaction: %v, want %v", tt.stagger, shared, tt.wantShared)
			}
		})
	}
}
