package sse

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/bench/harness"
)

// fanRow is the fan-out of one transport.
type fanRow struct {
	kind      string
	subs      int
	rate      int
	inserted  int64         // measured rows committed
	t         tally         // what the subscribers counted of them
	cpu, wall time.Duration // server CPU and wall time from the first measured insert to the last delivery
	connect   time.Duration
}

// drainLimit is how long after the last insert the subscribers may take to
// get every row before the row is reported short.
const drainLimit = 30 * time.Second

func (r *bench) fanout(ctx context.Context, opt options, kind string) (row fanRow, err error) {
	row = fanRow{kind: kind, subs: opt.subs, rate: opt.rate}
	profile := ""
	if opt.profileDir != "" {
		profile = filepath.Join(opt.profileDir, "fanout-"+strings.ToLower(kind)+".pprof")
	}
	srv, err := r.serve(ctx, profile)
	if err != nil {
		return row, err
	}
	defer func() {
		if serr := srv.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	warmK, measK := r.b.Marker()
	loads, connect, err := startLoads(ctx, opt, srv, kind, opt.subs, 500, measK)
	defer stopLoads(loads)
	if err != nil {
		return row, fmt.Errorf("connect: %w", err)
	}
	row.connect = connect
	conn := r.b.Load[0]
	if _, err := insertPaced(ctx, conn, opt.rate, opt.warmup, warmK); err != nil {
		return row, err
	}
	time.Sleep(time.Second) // the warm-up's deliveries are not measured
	cpu0, _ := harness.ProcCPU(srv.pid())
	start := time.Now()
	if row.inserted, err = insertPaced(ctx, conn, opt.rate, opt.measure, measK); err != nil {
		return row, err
	}
	want := row.inserted * int64(opt.subs)
	deadline := time.Now().Add(drainLimit)
	for {
		if row.t, err = collect(ctx, loads, row.inserted); err != nil {
			return row, err
		}
		if row.t.Received >= want || row.t.Lost > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cpu1, _ := harness.ProcCPU(srv.pid())
	row.cpu, row.wall = cpu1-cpu0, time.Since(start)
	return row, srv.ExitedEarly()
}

// insertPaced inserts rate rows a second for d, one per transaction, with
// k = marker, and returns how many it committed.
func insertPaced(ctx context.Context, conn *pgx.Conn, rate int, d time.Duration, marker int64) (int64, error) {
	due := int64(d.Seconds() * float64(rate))
	start := time.Now()
	var n int64
	for n < due {
		next := start.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
			return n, ctx.Err()
		}
		if _, err := conn.Exec(ctx, harness.InsertSQL, marker, 0, harness.RowPayload); err != nil {
			return n, fmt.Errorf("insert: %w", err)
		}
		n++
	}
	return n, nil
}
