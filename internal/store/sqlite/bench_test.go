package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sqlite3 "modernc.org/sqlite"

	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlite"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storetest"
)

// BenchmarkPollingPass measures a tracker pass over 1,000 due payments with
// no other payments stored and with 1,000,000 other tracked (pending, due
// later) payments: the two must cost about the same.
//
//	go test -run '^$' -bench PollingPass ./internal/store/sqlite/
func BenchmarkPollingPass(b *testing.B) {
	if testing.Short() {
		b.Skip("loads a million rows; skipped with -short")
	}
	for _, tracked := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("tracked=%d", tracked), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "payments.db")
			s, err := sqlite.Open(b.Context(), path)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			loadTracked(b, path, tracked)
			storetest.PollingPass(b, s, 1000)
		})
	}
}

// BenchmarkListPage measures List pages of 50 (storetest.ListPages) with
// 10,000 and with 1,000,000 payments stored: the two must cost about the
// same.
//
//	go test -run '^$' -bench ListPage -count 6 ./internal/store/sqlite/
func BenchmarkListPage(b *testing.B) {
	if testing.Short() {
		b.Skip("loads a million rows; skipped with -short")
	}
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("payments=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "payments.db")
			s, err := sqlite.Open(b.Context(), path)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			loadListed(b, path, n)
			storetest.ListPages(b, s, n)
		})
	}
}

// loadListed inserts n payments created one second apart up to
// storetest.ListEnd, with the outcomes of storetest.ListOutcome, in one
// statement and transaction.
func loadListed(b *testing.B, path string, n int) {
	b.Helper()
	start := time.Now()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var cases strings.Builder
	for i := range 100 {
		fmt.Fprintf(&cases, " WHEN %d THEN '%s'", i, storetest.ListOutcome(i))
	}
	first := storetest.ListEnd.Add(-time.Duration(n) * time.Second).UnixMicro()
	if _, err := db.ExecContext(b.Context(), `
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
		INSERT INTO payments (
			checkout_session_id, order_id, charge_amount, charge_currency,
			outcome, create_time, update_time, check_attempts, version)
		SELECT lower(hex(randomblob(16))), printf('order-%08d', i), '14.00', 'USD',
			CASE i % 100`+cases.String()+` END, ? + i * 1000000, ? + i * 1000000, 0, 2
		FROM n`, n, first, first); err != nil {
		b.Fatalf("load payments: %v", err)
	}
	b.Logf("loaded %d payments in %v", n, time.Since(start).Round(time.Millisecond))
}

// loadTracked inserts n pending payments due after the benchmark's horizon,
// in one statement and transaction.
func loadTracked(b *testing.B, path string, n int) {
	b.Helper()
	if n == 0 {
		return
	}
	start := time.Now()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	created := storetest.PollingStart.Add(-24 * time.Hour).UnixMicro()
	firstDue := storetest.PollingStart.Add(storetest.PollingHorizon + time.Hour).UnixMicro()
	if _, err := tx.ExecContext(b.Context(), `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO payments (
			checkout_session_id, order_id, charge_amount, charge_currency,
			outcome, charge_id, charge_state, create_time, update_time,
			next_check_time, check_attempts, version)
		SELECT printf('cs-tracked-%08d', i), printf('order-tracked-%08d', i), '14.00', 'USD',
			'pending', printf('S01-0000000-0000000-C%06d', i % 1000000), 'AuthorizationInitiated', ?, ?,
			? + i * 1000000, 3, 4
		FROM n`, n, created, created, firstDue); err != nil {
		b.Fatalf("load tracked payments: %v", err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d tracked payments in %v", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkCompletionWrites measures the store writes of one completion as
// the completion service makes them: CreateAttempt of a fresh "completing"
// payment with its in-flight lease as next check time, then Transition to
// "completed", which clears the next check time. The workers=32 case runs
// 32 concurrent completions (the saturated service, whose writes share
// group commits); the workers=1 case runs them one after another.
//
// Besides ns/op (wall time per completion, over all workers) it reports
// cpu-us/op, the process's user+system CPU time per completion (including
// the background goroutines of the store, and Close), and the latency of
// one CreateAttempt+Transition pair: p50-us, p99-us and p99.9-us.
//
// The store holds 100,000 settled payments before the run, with random
// UUIDs as keys like all payments, so that inserts land at random places
// in B-trees of a realistic depth. Where /proc/self/io exists it also
// reports read-KiB/op and write-KiB/op, the bytes the process passed to
// read and write calls per completion (page reads that missed SQLite's
// cache, WAL frames, checkpoint copies).
//
//	go test -run '^$' -bench CompletionWrites -cpu 2 ./internal/store/sqlite/
func BenchmarkCompletionWrites(b *testing.B) {
	for _, workers := range []int{32, 1} {
		// sync=fsync is how commits synced before the store switched
		// SQLite to fdatasync.
		for _, mode := range []string{"fdatasync", "fsync"} {
			b.Run(fmt.Sprintf("workers=%d/sync=%s", workers, mode), func(b *testing.B) {
				completionWrites(b, workers, mode == "fdatasync")
			})
		}
	}
}

func completionWrites(b *testing.B, workers int, fdatasync bool) {
	path := filepath.Join(b.TempDir(), "payments.db")
	s, err := sqlite.Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Open turns fdatasync on for the process; the next Open turns it on
	// again.
	if _, err := sqlite3.Fdatasync(fdatasync); err != nil {
		b.Fatal(err)
	}
	loadSettled(b, path, 100_000)
	ctx := b.Context()
	seed := uint64(time.Now().UnixNano())
	base := time.Now().UTC()

	var (
		next      atomic.Int64
		wg        sync.WaitGroup
		latencies = make([][]time.Duration, workers)
	)
	before := cpuTime(b)
	ioBefore := procIO()
	b.ResetTimer()
	for w := range workers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, b.N/workers+1)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				id := randomKey(seed, uint64(i))
				at := base.Add(time.Duration(i) * time.Microsecond)
				p := payment.Payment{
					CheckoutSessionID: id,
					OrderID:           "order-" + id[:16],
					ChargeAmount:      payment.Money{Amount: "14.00", CurrencyCode: "USD"},
					Outcome:           payment.Completing,
					CreateTime:        at,
					UpdateTime:        at,
					NextCheckTime:     at.Add(30 * time.Second),
				}
				t0 := time.Now()
				if _, created, err := s.CreateAttempt(ctx, p, "bench"); err != nil || !created {
					b.Errorf("CreateAttempt: created %v, err %v", created, err)
					return
				}
				tr := payment.Transition{
					Outcome:            payment.Completed,
					ChargePermissionID: "B01-0000000-0000000",
					ChargeID:           "S01-0000000-0000000-C000000",
					Time:               at.Add(time.Millisecond),
				}
				if _, changed, err := s.Transition(ctx, id, tr); err != nil || !changed {
					b.Errorf("Transition: changed %v, err %v", changed, err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			latencies[w] = lat
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu := cpuTime(b) - before
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/op")
	if ioBefore != nil {
		if io := procIO(); io != nil {
			b.ReportMetric(float64(io["rchar"]-ioBefore["rchar"])/1024/float64(b.N), "read-KiB/op")
			b.ReportMetric(float64(io["wchar"]-ioBefore["wchar"])/1024/float64(b.N), "write-KiB/op")
		}
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50-us", 0.50}, {"p99-us", 0.99}, {"p99.9-us", 0.999}} {
		d := all[min(len(all)-1, int(q.q*float64(len(all))))]
		b.ReportMetric(float64(d.Nanoseconds())/1e3, q.name)
	}
}

// cpuTime returns the user plus system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procIO returns the process's I/O counters from /proc/self/io (rchar and
// wchar count the bytes passed to read and write calls, whether or not they
// reach the disk), or nil where there are none.
func procIO() map[string]int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return nil
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			m[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return m
}

// randomKey returns a random-looking UUID derived from seed and i, as
// checkout session IDs are.
func randomKey(seed, i uint64) string {
	a, c := splitmix(seed^i), splitmix(seed+i)
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, 0x8000|c>>48&0x3fff, c&0xffffffffffff)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// loadSettled inserts n completed payments with random keys, in one
// statement and transaction, and checkpoints them into the database file so
// that the measurement starts with an empty WAL.
func loadSettled(b *testing.B, path string, n int) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	created := time.Now().Add(-24 * time.Hour).UnixMicro()
	if _, err := db.ExecContext(b.Context(), `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO payments (
			checkout_session_id, order_id, charge_amount, charge_currency,
			outcome, charge_permission_id, charge_id, charge_state,
			create_time, update_time, settle_time, version)
		SELECT uuid, 'order-' || substr(uuid, 1, 16), '14.00', 'USD',
			'completed', 'B01-0000000-0000000', 'S01-0000000-0000000-C000000', 'Captured',
			? + i, ? + i, ? + i, 2
		FROM (SELECT i, lower(printf('%s-%s-4%s-a%s-%s', hex(randomblob(4)), hex(randomblob(2)),
			substr(hex(randomblob(2)), 2), substr(hex(randomblob(2)), 2), hex(randomblob(6)))) AS uuid FROM n)`,
		n, created, created, created); err != nil {
		b.Fatalf("load settled payments: %v", err)
	}
	if _, err := db.ExecContext(b.Context(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
}
