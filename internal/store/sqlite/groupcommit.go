// Group commit: the writer goroutine runs every write operation, committing
// the operations queued together in one transaction and one sync.

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// errClosed is returned by write calls made after Close.
var errClosed = errors.New("store closed")

// maxBatch bounds how many queued write operations share one commit, so a
// long queue cannot make one transaction (and the wait of its first
// caller) arbitrarily long.
const maxBatch = 128

// writeOp is one write operation waiting for the writer goroutine.
type writeOp struct {
	ctx context.Context
	// fn runs the operation in tx. It may run more than once: when an
	// operation of a batch fails, the writer rolls the batch back and runs
	// it again with savepoints (see commitBatch). So fn must only assign
	// its results, setting every one of them on each run, and never
	// accumulate state or act outside tx; the callers read the results
	// only after done delivered.
	fn func(context.Context, *sql.Tx) error
	// done receives fn's error, or the batch's, once the transaction that
	// ran fn has committed or rolled back. Buffered, so the writer never
	// waits for a caller that gave up.
	done chan error
}

// inTx runs fn in a write transaction and returns once that transaction
// is durably committed (or has failed). The writer goroutine commits the
// operations queued by concurrent callers together: one BEGIN IMMEDIATE
// and one COMMIT (one fsync) for the whole group, and a failing operation
// leaves the others' changes intact. fn may run more than once; see
// writeOp.fn.
func (s *Store) inTx(ctx context.Context, op string, fn func(context.Context, *sql.Tx) error) error {
	w := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- w:
	case <-ctx.Done():
		return wrap(op, ctx.Err())
	case <-s.quit:
		return wrap(op, errClosed)
	}
	select {
	case err := <-w.done:
		if err != nil {
			return wrap(op, err)
		}
		return nil
	case <-ctx.Done():
		// The operation may still commit; as with any interrupted write,
		// the caller cannot tell.
		return wrap(op, ctx.Err())
	}
}

// writer is the only goroutine writing to the database. It takes the first
// queued operation, then every operation already waiting (up to maxBatch),
// and commits them in one transaction; when the process is CPU-bound it
// first holds the batch open for more (see commitPacer).
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*writeOp, 0, maxBatch)
	step := time.NewTimer(time.Hour)
	step.Stop()
	for {
		select {
		case w := <-s.ops:
			batch = append(batch[:0], w)
		case <-s.quit:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case w := <-s.ops:
				batch = append(batch, w)
			default:
				break fill
			}
		}
		if len(batch) < maxBatch && s.pacer.linger(time.Now(), len(batch)) {
			batch = s.hold(batch, step)
		}
		s.commitBatch(batch)
		clear(batch)
		select {
		case s.wrote <- struct{}{}:
		default:
		}
		select {
		case <-s.restart:
			// Between two batches: see checkpointer.
			_ = s.checkpoint(s.write)
		default:
		}
	}
}

// hold keeps batch open for operations arriving within the pacer's
// lingerMax, while the CPU stays saturated, and returns it.
func (s *Store) hold(batch []*writeOp, step *time.Timer) []*writeOp {
	deadline := time.Now().Add(s.pacer.max)
	for len(batch) < maxBatch {
		wait := min(s.pacer.step, time.Until(deadline))
		if wait <= 0 {
			return batch
		}
		step.Reset(wait)
		select {
		case w := <-s.ops:
			step.Stop()
			batch = append(batch, w)
			s.pacer.joined(time.Now(), 1)
		case <-step.C:
			if !s.pacer.saturated() {
				return batch
			}
		case <-s.quit:
			step.Stop()
			return batch
		}
	}
	return batch
}

// commitBatch runs the operations of batch in one write transaction and
// reports to each caller only after COMMIT returned, that is after the WAL
// was synced (synchronous=FULL): nothing is acknowledged before it is
// durable.
//
// Savepoints cost three statements per operation, so they are used only
// when needed. A batch of one operation needs none: the transaction is the
// unit, rolled back if the operation fails. A larger batch first runs
// without savepoints; if an operation fails, the whole transaction is
// rolled back and the batch runs again with each operation under its own
// savepoint, so that the failing one leaves the others' changes intact.
// Failures are rare (a lost lease, a payment that disappeared), so the
// second run is too. The second run starts from a fresh transaction and
// every operation runs again, so nothing the first run's operations saw
// (such as a failed operation's partial writes) outlives it.
func (s *Store) commitBatch(batch []*writeOp) {
	results := make([]error, len(batch))
	live := 0
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			results[i] = err
			batch[i] = nil
			continue
		}
		live++
	}
	switch {
	case live == 0:
		deliver(batch, results, nil)
	case live == 1:
		deliver(batch, results, s.runBatch(batch, results))
	default:
		err := s.runBatch(batch, results)
		if errors.Is(err, errOpFailed) {
			err = s.runBatchSavepoints(batch, results)
		}
		deliver(batch, results, err)
	}
}

// errOpFailed is returned by runBatch when an operation of a batch of
// several failed and the batch was rolled back, to be run again with
// savepoints.
var errOpFailed = errors.New("operation failed")

// runBatch runs the live operations of batch in one transaction without
// savepoints and commits it, recording each operation's result in results.
// If an operation fails, the transaction is rolled back: with a single live
// operation, runBatch returns nil and results holds its error; with
// several, it stops at the failing one and returns errOpFailed. Any other
// error is the batch's.
func (s *Store) runBatch(batch []*writeOp, results []error) error {
	// Statements run under a context that callers cannot cancel: an
	// interrupt would abort the statement of another caller sharing the
	// transaction. A caller that gives up stops waiting instead.
	ctx := context.Background()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	live := 0
	for _, w := range batch {
		if w != nil {
			live++
		}
	}
	for i, w := range batch {
		if w == nil {
			continue
		}
		if results[i] = w.fn(ctx, tx); results[i] != nil {
			_ = tx.Rollback() // The operation's error is the one that matters.
			if live == 1 {
				return nil
			}
			return errOpFailed
		}
	}
	return tx.Commit()
}

// runBatchSavepoints runs the live operations of batch in one transaction,
// each under its own savepoint so that a failing one is undone alone, and
// commits it, recording each operation's result in results. The error
// returned is the batch's.
func (s *Store) runBatchSavepoints(batch []*writeOp, results []error) error {
	ctx := context.Background() // See runBatch.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	savepoint := tx.StmtContext(ctx, s.stmts.savepoint)
	release := tx.StmtContext(ctx, s.stmts.release)
	rollbackTo := tx.StmtContext(ctx, s.stmts.rollbackTo)
	for i, w := range batch {
		if w == nil {
			continue
		}
		if _, err := savepoint.ExecContext(ctx); err != nil {
			_ = tx.Rollback()
			return err
		}
		if results[i] = w.fn(ctx, tx); results[i] != nil {
			// Undo this operation only; if even that fails the
			// transaction is unusable and the whole batch fails.
			if _, err := rollbackTo.ExecContext(ctx); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("%w (rolling back after: %w)", err, results[i])
			}
		}
		if _, err := release.ExecContext(ctx); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// deliver sends each waiting caller its result: batchErr, when the
// transaction as a whole failed, replaces every operation's own result.
func deliver(batch []*writeOp, results []error, batchErr error) {
	for i, w := range batch {
		if w == nil {
			continue
		}
		if batchErr != nil {
			w.done <- batchErr
			continue
		}
		w.done <- results[i]
	}
}
