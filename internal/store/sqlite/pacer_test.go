package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"sync"
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
			p := &commitPacer{max: lingerMax, step: lingerStep, saturated: func() bool { return tt.saturated(i) }}
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

// TestHold runs the writer's hold on a bare Store (no database): which
// queued operations join the held batch, and when it is let go.
func TestHold(t *testing.T) {
	t.Parallel()
	op := func() *writeOp { return &writeOp{} }
	tests := []struct {
		name   string
		queued int // operations waiting in s.ops when the hold starts
		// saturated is the pacer's gauge; with late, its first call (after
		// the hold started) queues one more operation.
		saturated func() bool
		late      bool
		quit      bool
		want      int  // batch length returned
		heldToMax bool // let go only at the deadline
	}{
		{name: "saturated_takes_the_queue_until_max", queued: 3, saturated: func() bool { return true }, want: 4, heldToMax: true},
		{name: "unsaturated_lets_go_at_first_step", saturated: func() bool { return false }, late: true, want: 1},
		{name: "saturated_keeps_taking_late_arrivals", saturated: func() bool { return true }, late: true, want: 2},
		{name: "quit_lets_go", queued: 0, saturated: func() bool { return true }, quit: true, want: 1},
		{name: "full_batch_lets_go", queued: maxBatch + 5, saturated: func() bool { return true }, want: maxBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &Store{ops: make(chan *writeOp, maxBatch+8), quit: make(chan struct{})}
			for range tt.queued {
				s.ops <- op()
			}
			if tt.quit {
				close(s.quit)
			}
			queuedLate := false
			s.pacer = &commitPacer{max: 50 * time.Millisecond, step: time.Millisecond, saturated: func() bool {
				if tt.late && !queuedLate {
					queuedLate = true
					s.ops <- op()
				}
				return tt.saturated()
			}}
			timer := time.NewTimer(time.Hour)
			timer.Stop()
			start := time.Now()
			got := s.hold([]*writeOp{op()}, timer)
			if len(got) != tt.want {
				t.Errorf("batch of %d, want %d", len(got), tt.want)
			}
			// Timers never fire early: a batch let go only at the deadline
			// was held at least max.
			if tt.heldToMax && time.Since(start) < s.pacer.max {
				t.Errorf("let go after %v, before max %v", time.Since(start), s.pacer.max)
			}
			if joined := len(got) - 1; s.pacer.joinedOps != joined {
				t.Errorf("joinedOps = %d, want %d", s.pacer.joinedOps, joined)
			}
		})
	}
}

// TestWriterHoldsBatchWhileCPUBound checks the writer's use of the pacer
// with a real database: while the pacer finds the CPU saturated, an
// operation arriving after a batch started joins its transaction; with an
// idle CPU it gets a transaction of its own.
func TestWriterHoldsBatchWhileCPUBound(t *testing.T) {
	t.Parallel()
	for _, cpuBound := range []bool{true, false} {
		t.Run(fmt.Sprintf("cpu_bound=%v", cpuBound), func(t *testing.T) {
			t.Parallel()
			p := &commitPacer{max: time.Minute, step: time.Millisecond, busy: 1}
			p.rate.add(time.Now(), 10_000)
			// Called by the writer only: at a batch start, then at each step
			// of a hold. Holding ends once an operation joined (or after a
			// second as a safety net, should the second operation have
			// arrived with the first).
			steps := 0
			batchStarted := make(chan struct{})
			p.saturated = func() bool {
				steps++
				if steps == 1 {
					close(batchStarted)
				}
				return cpuBound && p.joinedOps == 0 && steps < 1000
			}
			s, err := open(t.Context(), filepath.Join(t.TempDir(), "p.db"), options{every: checkpointEvery, restartFrames: restartFrames, pacer: p})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()

			var (
				mu  sync.Mutex
				txs []*sql.Tx
				wg  sync.WaitGroup
			)
			write := func(name string) {
				err := s.inTx(t.Context(), name, func(_ context.Context, tx *sql.Tx) error {
					mu.Lock()
					defer mu.Unlock()
					txs = append(txs, tx)
					return nil
				})
				if err != nil {
					t.Errorf("inTx %s: %v", name, err)
				}
			}
			if cpuBound {
				// The first batch is held until the second operation joins.
				wg.Go(func() { write("first") })
				<-batchStarted // the writer asks the pacer as the batch starts
				wg.Go(func() { write("second") })
			} else {
				// The first commits at once; the second comes after.
				write("first")
				write("second")
			}
			wg.Wait()
			if len(txs) != 2 {
				t.Fatalf("%d operations ran, want 2", len(txs))
			}
			if shared := txs[0] == txs[1]; shared != cpuBound {
				t.Errorf("shared a transaction: %v, want %v", shared, cpuBound)
			}
		})
	}
}
