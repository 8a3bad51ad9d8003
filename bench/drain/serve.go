package drain

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// The consumer names of walcast serve with its subscriber: with walcast's
// defaults, and the labelled variant with a catch-up queue.
const (
	serveName    = "walcast serve, 1 WebSocket subscriber"
	serveBigName = "walcast serve, 1 WebSocket subscriber, 256 MiB queue and 256 KB client buffer (not defaults)"
)

// stallLimit is how long a run may go without a new row (or, before the
// first, without any) before it counts as failed.
const stallLimit = 60 * time.Second

// serveConsumer is walcast serve on the copy slot with one WebSocket
// subscriber of postgres_changes on the table, which checks every row on
// every run. bigQueue gives the server a 256 MiB queue per connection
// (harness.CatchUpQueueEnv) and the subscriber a 256 KB read buffer: a
// separate, labelled row with no target. Without it, walcast runs on its
// defaults and closes a subscriber that falls 1 MiB behind (4000 slow
// consumer), which counts as a failed run.
//
// The server must not stream before the subscriber has joined, or rows
// would go to nobody: the bench holds the slot while the server starts and
// the subscriber joins, then lets go, and the server takes the slot on its
// next retry. The run is timed as every consumer's: from its walsender
// acquiring the slot to the arrival of the last row at the subscriber. Its
// CPU is the server process's plus the bench process's (the subscriber,
// and the bench's 2 ms walsender readings) over the same span.
func (b *drainBench) serveConsumer(bigQueue bool) consumer {
	c := consumer{name: serveName, goal: 0.7, checksEveryRun: true, drain: func(ctx context.Context, d *drainRun, slot string, _ bool) (runTimes, error) {
		return b.drainServe(ctx, d, slot, bigQueue)
	}}
	if bigQueue {
		c.name, c.goal, c.noTarget = serveBigName, 0, true
	}
	return c
}

func (b *drainBench) drainServe(ctx context.Context, d *drainRun, slot string, bigQueue bool) (_ runTimes, err error) {
	release, err := harness.HoldSlot(ctx, b.url, slot)
	if err != nil {
		return runTimes{}, err
	}
	defer release()
	holder, err := b.slotPID(ctx, slot)
	if err != nil {
		return runTimes{}, err
	}
	if holder == 0 {
		return runTimes{}, fmt.Errorf("slot %s is not active after holding it", slot)
	}
	var env []string
	if bigQueue {
		env = append(env, harness.CatchUpQueueEnv)
	}
	srv, err := harness.StartServe(ctx, b.walcast, b.url, b.secret, slot, filepath.Join(b.tmp, slot+".log"), "", env...)
	if err != nil {
		return runTimes{}, err
	}
	defer func() {
		if _, serr := srv.Stop(); err == nil {
			err = serr
		}
	}()
	url := fmt.Sprintf("ws://127.0.0.1:%d/realtime/v1/websocket?apikey=%s&vsn=2.0.0", srv.Port, b.token)
	sub, err := dialRowSubscriber(ctx, url, d.load, d.firstID, bigQueue)
	if err != nil {
		if ctx.Err() != nil {
			return runTimes{}, ctx.Err()
		}
		// The server is up (it answered /healthz) but did not take the
		// subscriber: a failed run of walcast serve, like a lost row.
		return runTimes{}, deliveryError{fmt.Errorf("connect subscriber: %w", err)}
	}
	defer sub.close()

	watch, err := watchSlot(ctx, b.url, slot, holder)
	if err != nil {
		return runTimes{}, err
	}
	pid := srv.Cmd.Process.Pid
	serverBefore, _ := harness.ProcCPU(pid)
	selfBefore := harness.SelfCPU()
	release()
	failed := func() error {
		if err := srv.ExitedEarly(); err != nil {
			return err
		}
		return sub.lost()
	}
	rerr := awaitRows(ctx, sub, d.rows, failed)
	serverAfter, _ := harness.ProcCPU(pid)
	selfAfter := harness.SelfCPU()
	acquired, walsender, werr := watch.stop()
	if rerr != nil {
		return runTimes{}, rerr
	}
	if werr != nil {
		return runTimes{}, werr
	}
	sub.close()
	if err := sub.check(d.rows); err != nil {
		return runTimes{}, err
	}
	// The server's and the bench's CPU before the slot was taken (the
	// server retrying, the subscriber idle) is a few ms at most.
	return runTimes{wall: time.Unix(0, sub.lastAt.Load()).Sub(acquired), cpu: serverAfter - serverBefore + selfAfter - selfBefore, walsender: walsender}, nil
}

// slotPID is the PID of the process holding slot, 0 when none does.
func (b *drainBench) slotPID(ctx context.Context, slot string) (int32, error) {
	var pid int32
	err := b.conn.QueryRow(ctx, "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&pid)
	if err != nil {
		return 0, fmt.Errorf("read slot %s: %w", slot, err)
	}
	return pid, nil
}

// awaitRows waits until sub has received rows rows, failed reports an
// error, or no row has come for stallLimit.
func awaitRows(ctx context.Context, sub *rowSubscriber, rows int, failed func() error) error {
	last, lastChange := sub.rows.Load(), time.Now()
	for {
		n := sub.rows.Load()
		switch {
		case n >= int64(rows):
			return nil
		case failed() != nil:
			return failed()
		case n != last:
			last, lastChange = n, time.Now()
		case time.Since(lastChange) > stallLimit:
			return deliveryError{fmt.Errorf("subscriber received %d of %d rows and nothing more for %s", n, rows, stallLimit)}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("subscriber received %d of %d rows: %w", n, rows, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
