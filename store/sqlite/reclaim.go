package sqlite

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/haulhq/haul/store/internal/sqlstore"
)

// ReclaimOrphanJobs is for a process about to run rendition jobs on this
// database (haul serve). It takes a lock on the file PATH-jobs.lock and
// holds it until release is called or the process ends (even by SIGKILL:
// the kernel drops the lock). When no other process holds that lock, every
// job still processing was left by a process that died, so those jobs are
// put back in the queue at once (requeued, attempts kept) instead of
// waiting for their leases to expire. When another process holds it, its
// workers may be running jobs: nothing is requeued and leases decide, as
// between replicas. Without file locks (non-Unix) it requeues nothing.
func (db *DB) ReclaimOrphanJobs(ctx context.Context, now time.Time) (requeued int, release func(), err error) {
	noop := func() {}
	if db.path == "" || db.path == ":memory:" {
		return 0, noop, nil
	}
	f, err := os.OpenFile(db.path+"-jobs.lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, noop, fmt.Errorf("sqlite: job lock: %w", err)
	}
	release = func() { f.Close() }
	sole, err := lockJobs(f)
	if err != nil {
		release()
		return 0, noop, fmt.Errorf("sqlite: job lock %s: %w", f.Name(), err)
	}
	if !sole {
		return 0, release, nil
	}
	// Exclusive: no other process runs jobs; others starting now wait in
	// shareJobs until the requeue is done.
	var n int
	err = db.write(ctx, func(t *sqlstore.Tx) (err error) {
		n, err = t.RequeueProcessingJobs(ctx, now)
		return err
	})
	if err == nil {
		err = shareJobs(f)
	}
	if err != nil {
		release()
		return 0, noop, err
	}
	return n, release, nil
}
