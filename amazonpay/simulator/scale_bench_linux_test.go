package simulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/amazonpay/simulator"
)

// BenchmarkStateScale prepares and completes checkout sessions on a
// persistent simulator (StateDir) until it keeps SIMULATOR_BENCH_SESSIONS
// (default 100,000) of them, and reports the simulator's cost per operation
// for the first and the last 1,000 sessions, the time New takes to reload
// them all, the live heap with them in memory and the database's size.
//
// Each session is four operations through the handler: a signed Create
// Checkout Session with an idempotency key, the buyer (control API), a
// signed Complete and a signed Get. Only the handler's time is counted, not
// the test's own signing (a 1024-bit key keeps the signing short): its
// wall time, and the CPU time of the thread it runs on (the goroutine is
// locked to it), which other processes on a busy machine do not inflate.
// Run it once:
//
//	go test -run '^$' -bench BenchmarkStateScale -benchtime 1x ./amazonpay/simulator
func BenchmarkStateScale(b *testing.B) {
	n := 100_000
	if v := os.Getenv("SIMULATOR_BENCH_SESSIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2000 {
			b.Fatalf("SIMULATOR_BENCH_SESSIONS=%q: want a number of at least 2000", v)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for b.Loop() {
		dir := b.TempDir()
		clock := simulator.NewFakeClock(time.Now())
		sim, err := simulator.New(simulator.Options{StateDir: dir, Clock: clock})
		if err != nil {
			b.Fatal(err)
		}
		s := registerSigner(b, sim, "SANDBOX-SCALEBENCH", fastKey())
		createBody, _ := json.Marshal(sessionBody("Authorize", false, "14.00", "USD"))
		completeBody := []byte(`{"chargeAmount":{"amount":"14.00","currencyCode":"USD"}}`)
		buyerBody := []byte(`{"scenario":"Authorized"}`)

		// serve runs one request through the handler and returns the time
		// it took there.
		var cpu time.Duration
		serve := func(req *http.Request, want int) (time.Duration, []byte) {
			rec := httptest.NewRecorder()
			c0 := cpuTime(rusageThread)
			start := time.Now()
			sim.ServeHTTP(rec, req)
			d := time.Since(start)
			cpu += cpuTime(rusageThread) - c0
			if rec.Code != want {
				b.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, rec.Code, rec.Body)
			}
			return d, rec.Body.Bytes()
		}
		signed := func(method, path string, body []byte, headers map[string]string) *http.Request {
			req := httptest.NewRequest(method, "https://pay-api.amazon.com"+path, strings.NewReader(string(body)))
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			s.sign(req, body, clock.Now())
			return req
		}

		const batch = 1000
		var perBatch, cpuPerBatch []time.Duration // mean handler time per operation
		var spent time.Duration
		for i := range n {
			req := signed("POST", "/v2/checkoutSessions", createBody, map[string]string{"x-amz-pay-idempotency-key": fmt.Sprintf("scale-%d", i)})
			d, out := serve(req, 201)
			spent += d
			var created struct {
				CheckoutSessionID string `json:"checkoutSessionId"`
			}
			if err := json.Unmarshal(out, &created); err != nil {
				b.Fatal(err)
			}
			id := created.CheckoutSessionID
			d, _ = serve(httptest.NewRequest("POST", "https://sim/simulator/checkoutSessions/"+id+"/buyer", strings.NewReader(string(buyerBody))), 200)
			spent += d
			d, _ = serve(signed("POST", "/v2/checkoutSessions/"+id+"/complete", completeBody, nil), 200)
			spent += d
			d, _ = serve(signed("GET", "/v2/checkoutSessions/"+id, nil, nil), 200)
			spent += d
			if (i+1)%batch == 0 {
				perBatch = append(perBatch, spent/(4*batch))
				cpuPerBatch = append(cpuPerBatch, cpu/(4*batch))
				spent, cpu = 0, 0
				if (i+1)%(10*batch) == 0 {
					b.Logf("sessions %6d: %v wall, %v CPU per operation (mean of the last 1,000 sessions)",
						i+1, perBatch[len(perBatch)-1], cpuPerBatch[len(cpuPerBatch)-1])
				}
			}
		}
		first, last := perBatch[0], perBatch[len(perBatch)-1]
		firstCPU, lastCPU := cpuPerBatch[0], cpuPerBatch[len(cpuPerBatch)-1]
		heap := liveHeap()
		if err := sim.Close(); err != nil {
			b.Fatal(err)
		}
		dbSize := fileSize(filepath.Join(dir, "simulator.db")) + fileSize(filepath.Join(dir, "simulator.db-wal"))

		c0 := cpuTime(rusageSelf)
		start := time.Now()
		reloaded, err := simulator.New(simulator.Options{StateDir: dir, Clock: clock})
		restart := time.Since(start)
		restartCPU := cpuTime(rusageSelf) - c0
		if err != nil {
			b.Fatal(err)
		}
		reloadedHeap := liveHeap()
		if err := reloaded.Close(); err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(reloaded)

		b.ReportMetric(float64(first.Microseconds()), "first1k-us/op")
		b.ReportMetric(float64(last.Microseconds()), "last1k-us/op")
		b.ReportMetric(float64(last)/float64(first), "last/first")
		b.ReportMetric(float64(firstCPU.Microseconds()), "first1k-cpu-us/op")
		b.ReportMetric(float64(lastCPU.Microseconds()), "last1k-cpu-us/op")
		b.ReportMetric(float64(lastCPU)/float64(firstCPU), "cpu-last/first")
		b.ReportMetric(restart.Seconds(), "restart-s")
		b.ReportMetric(restartCPU.Seconds(), "restart-cpu-s")
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(reloadedHeap)/(1<<20), "reloaded-heap-MiB")
		b.ReportMetric(float64(dbSize)/(1<<20), "db-MiB")
	}
}

// getrusage targets: the calling thread (Linux), the whole process.
const (
	rusageSelf   = 0
	rusageThread = 1
)

// cpuTime is the user plus system CPU time of who.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
