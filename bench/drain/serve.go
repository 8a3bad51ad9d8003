package drain

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// serveName is the consumer name of walcast serve with its subscriber.
const serveName = "walcast serve, 1 WebSocket subscriber"

// stallLimit is how long a run may go without a new row (or, before the
// first, without any) before it counts as failed.
const stallLimit = 60 * time.Second

// serveConsumer is walcast serve on the copy slot with one WebSocket
// subscriber of postgres_changes on the table, which checks every row on
// every run.
//
// The server must not stream before the subscriber has joined, or rows
// would go to nobody: the bench holds the slot while the server starts and
// the subscriber joins, then lets go, and the server takes the slot on its
// next retry. The run is timed from the moment the server holds the slot
// (seen in pg_replication_slots) to the arrival of the last row at the
// subscriber; its CPU is the server process's over the same span.
func (b *drainBench) serveConsumer() consumer {
	return consumer{name: serveName, goal: 0.7, checksEveryRun: true, drain: b.drainServe}
}

func (b *drainBench) drainServe(ctx context.Context, d *drainRun, slot string, _ bool) (wall, cpu time.Duration, err error) {
	release, err := harness.HoldSlot(ctx, b.url, slot)
	if err != nil {
		return 0, 0, err
	}
	defer release()
	holder, err := b.slotPID(ctx, slot)
	if err != nil {
		return 0, 0, err
	}
	if holder == 0 {
		return 0, 0, fmt.Errorf("slot %s is not active after holding it", slot)
	}
	srv, err := harness.StartServe(ctx, b.walcast, b.url, b.secret, slot, filepath.Join(b.tmp, slot+".log"), "", harness.CatchUpQueueEnv)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if _, serr := srv.Stop(); err == nil {
			err = serr
		}
	}()
	url := fmt.Sprintf("ws://127.0.0.1:%d/realtime/v1/websocket?apikey=%s&vsn=2.0.0", srv.Port, b.token)
	sub, err := dialRowSubscriber(ctx, url, d.firstID)
	if err != nil {
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		// The server is up (it answered /healthz) but did not take the
		// subscriber: a failed run of walcast serve, like a lost row.
		return 0, 0, deliveryError{fmt.Errorf("connect subscriber: %w", err)}
	}
	defer sub.close()

	release()
	began, err := b.awaitTaken(ctx, slot, holder, srv)
	if err != nil {
		return 0, 0, err
	}
	pid := srv.Cmd.Process.Pid
	cpuBefore, _ := harness.ProcCPU(pid)
	failed := func() error {
		if err := srv.ExitedEarly(); err != nil {
			return err
		}
		return sub.lost()
	}
	if err := awaitRows(ctx, sub, d.rows, failed); err != nil {
		return 0, 0, err
	}
	cpuAfter, _ := harness.ProcCPU(pid)
	sub.close()
	if err := sub.check(d.rows); err != nil {
		return 0, 0, err
	}
	return time.Duration(sub.lastAt.Load() - began.UnixNano()), cpuAfter - cpuBefore, nil
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

// awaitTaken polls until a process other than holder holds slot and
// returns when it first saw that.
func (b *drainBench) awaitTaken(ctx context.Context, slot string, holder int32, srv *harness.ServeProc) (time.Time, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		pid, err := b.slotPID(ctx, slot)
		if err != nil {
			return time.Time{}, err
		}
		if pid != 0 && pid != holder {
			return time.Now(), nil
		}
		if err := srv.ExitedEarly(); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("walcast serve did not take slot %s within 30 s of its release:\n%s", slot, srv.LogTail())
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
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
