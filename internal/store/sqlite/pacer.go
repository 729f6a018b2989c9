package sqlite

import (
	"math"
	"runtime"
	"runtime/metrics"
	"time"
)

// Group commit under load. Every commit ends with a sync of the WAL, and a
// sync costs CPU besides its wait: the system call, the block layer and,
// on a virtual machine, the device notification and its interrupt (about
// 90 µs of CPU per 16 KiB write plus fdatasync on the machine of
// docs/benchmarks/completion.md, a tenth of a completion's CPU there).
// When the process is CPU-bound, the writer therefore holds a small batch
// open for a few milliseconds so that more operations share its commit:
// the callers wait a little longer, but for a CPU they would have queued
// for anyway, and every sync saved is CPU for their completions. When the
// CPU is not saturated, or writes are few, it commits at once, so that an
// unloaded service answers as fast as its disk allows.
const (
	// lingerMax bounds how long a batch is held open.
	lingerMax = 8 * time.Millisecond
	// lingerStep is how often a held batch rechecks that the CPU is still
	// saturated, committing as soon as it is not.
	lingerStep = 500 * time.Microsecond
	// busyShare is the share of recent batch starts that must have found
	// the CPU saturated: a single burst of runnable goroutines at light
	// load does not make the writer wait.
	busyShare = 0.75
	// busyAlpha weighs each batch start in that share (about the last
	// ten).
	busyAlpha = 0.1
	// lingerMinGain is how many more operations holding a batch for
	// lingerMax must be expected to add, at the recent arrival rate.
	lingerMinGain = 2
	// rateWindow is the time constant of the arrival rate estimate.
	rateWindow = 100 * time.Millisecond
)

// commitPacer decides whether the writer holds a batch open. Only the
// writer goroutine uses it.
type commitPacer struct {
	// saturated reports whether goroutines are waiting for a CPU; tests
	// replace it.
	saturated func() bool
	// max and step are lingerMax and lingerStep; tests change them.
	max, step time.Duration
	busy      float64 // moving share of batch starts that found saturation
	rate      arrivalRate
	// joinedOps counts the operations that joined held batches.
	joinedOps int
}

func newCommitPacer() *commitPacer {
	return &commitPacer{saturated: newCPUGauge().saturated, max: lingerMax, step: lingerStep}
}

// linger is called when a batch of n operations is about to be committed
// and reports whether to hold it open for more (see lingerMax).
func (p *commitPacer) linger(now time.Time, n int) bool {
	p.rate.add(now, n)
	sat := p.saturated()
	v := 0.0
	if sat {
		v = 1
	}
	p.busy += (v - p.busy) * busyAlpha
	return sat && p.busy >= busyShare && p.rate.perSecond(now)*p.max.Seconds() >= lingerMinGain
}

// joined counts n operations that joined a held batch.
func (p *commitPacer) joined(now time.Time, n int) {
	p.rate.add(now, n)
	p.joinedOps += n
}

// cpuGauge tells whether goroutines of this process are waiting for a CPU,
// from the Go scheduler's own count.
type cpuGauge struct {
	sample []metrics.Sample
}

func newCPUGauge() *cpuGauge {
	return &cpuGauge{sample: []metrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}}}
}

// saturated reports whether at least as many goroutines are runnable (ready
// to run, not running) as there are Ps to run them.
func (g *cpuGauge) saturated() bool {
	metrics.Read(g.sample)
	v := g.sample[0].Value
	return v.Kind() == metrics.KindUint64 && v.Uint64() >= uint64(runtime.GOMAXPROCS(0))
}

// arrivalRate estimates how many operations per second reach the writer:
// a count that decays exponentially with time constant rateWindow.
type arrivalRate struct {
	last  time.Time
	count float64 // decayed count as of last
}

func (r *arrivalRate) decay(now time.Time) {
	if !r.last.IsZero() && now.After(r.last) {
		r.count *= math.Exp(-float64(now.Sub(r.last)) / float64(rateWindow))
	}
	if now.After(r.last) {
		r.last = now
	}
}

func (r *arrivalRate) add(now time.Time, n int) {
	r.decay(now)
	r.count += float64(n)
}

func (r *arrivalRate) perSecond(now time.Time) float64 {
	r.decay(now)
	return r.count / rateWindow.Seconds()
}
