package sse

import (
	"context"
	"fmt"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// idleRow is the idle memory of one transport.
type idleRow struct {
	kind            string
	n, lost         int
	connect         time.Duration
	rss0, rss       uint64 // server VmRSS before connecting and after the collection, bytes
	gcBase, gcAfter harness.GCLine
	gcAfterConnect  bool
	gcWaited        time.Duration
}

func (r *bench) idle(ctx context.Context, opt options, kind string) (row idleRow, err error) {
	row = idleRow{kind: kind, n: opt.conns}
	serverStart := time.Now() // gctrace counts from the process start: a collection may seem earlier than it was, never later
	srv, err := r.serve(ctx, "", "GODEBUG=gctrace=1", "GOGC="+opt.gogc)
	if err != nil {
		return row, err
	}
	defer func() {
		if serr := srv.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	time.Sleep(opt.settle)
	row.rss0 = harness.VmRSS(srv.pid())
	row.gcBase, _ = harness.LastGC(srv.log)
	_, marker := r.b.Marker()
	loads, connect, err := startLoads(ctx, opt, srv, kind, opt.conns, 5000, marker)
	defer stopLoads(loads)
	if err != nil {
		return row, fmt.Errorf("connect: %w", err)
	}
	row.connect = connect
	upSince := time.Now()
	select {
	case <-time.After(opt.hold):
	case <-ctx.Done():
		return row, ctx.Err()
	}
	if row.gcAfter, row.gcAfterConnect, row.gcWaited, err = harness.AwaitGCAfter(ctx, srv.log, serverStart, upSince, opt.gcWait); err != nil {
		return row, err
	}
	if row.gcAfterConnect {
		time.Sleep(opt.scavenge)
	}
	row.rss = harness.VmRSS(srv.pid())
	t, err := collect(ctx, loads, 0)
	if err != nil {
		return row, err
	}
	row.lost = t.Lost
	return row, srv.ExitedEarly()
}
