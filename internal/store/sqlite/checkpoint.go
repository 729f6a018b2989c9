// Checkpoints: the background goroutine that copies the WAL into the
// database file, off the commit path.

package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// checkpointer copies the WAL into the database file every s.every while
// there are writes, with PASSIVE checkpoints on its own connection: they
// run alongside the writer and readers, never waiting for them.
//
// A checkpoint lets the WAL start over from its beginning (instead of
// growing) once it has copied every frame: the next write transaction then
// restarts it, if no reader still uses the old frames. A saturated writer
// commits while each checkpoint runs, so one never copies every frame; and
// SQLite syncs the database file only in a checkpoint that does, so the
// pages copied meanwhile pile up unsynced. So once the WAL is longer than
// s.restartFrames, the checkpointer syncs the database file itself (the
// copied pages), then asks the writer to copy the few frames committed
// since, with a PASSIVE checkpoint of its own between two batches; that
// one copies every frame, so SQLite syncs the database file (only those
// few pages are left to write), and the batch after restarts the WAL. This
// short copy and sync is the only checkpoint work left on the commit path,
// at most once per round. A reader that holds an old snapshot across it,
// or another process writing in between, makes the WAL grow until a later
// round, as it would with SQLite's automatic checkpoint.
//
// The checkpointer returns after the writer has, with a last checkpoint.
func (s *Store) checkpointer() {
	defer close(s.checkpointerDone)
	timer := time.NewTimer(s.every)
	timer.Stop()
	for {
		select {
		case <-s.wrote:
		case <-s.writerDone:
			_ = s.checkpoint(s.ckpt)
			return
		}
		timer.Reset(s.every)
		select {
		case <-timer.C:
		case <-s.writerDone:
			_ = s.checkpoint(s.ckpt)
			return
		}
		if s.checkpoint(s.ckpt) > s.restartFrames {
			// An error leaves the pages to the writer's checkpoint.
			_ = s.file.f.Sync()
			select {
			case s.restart <- struct{}{}:
			default:
			}
		}
	}
}

// checkpoint runs a PASSIVE checkpoint on db and returns the length of the
// WAL in frames, or 0 if the checkpoint could not run (another process's
// checkpoint running, or an error; the next round tries again).
func (s *Store) checkpoint(db *sql.DB) (walFrames int) {
	var busy, copied int
	err := db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walFrames, &copied)
	if err != nil || busy != 0 {
		return 0
	}
	return walFrames
}
