package drain

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/bench/harness"
)

// Intervals of the slot watch: how often it looks for the walsender that
// acquires the slot (the start of every timed run), and how often it then
// reads that walsender's CPU time, whose last reading before the walsender
// exits is what counts.
const (
	acquirePoll = time.Millisecond
	cpuPoll     = 2 * time.Millisecond
)

// slotWatch follows the walsender of one run: the moment it acquires the
// slot (pg_replication_slots.active_pid becomes a PID other than the
// bench's own holder) and its CPU time from then on. Its goroutine owns
// every field until done is closed; stop ends it and waits.
type slotWatch struct {
	acquired   time.Time
	pid        int32
	cpu0, cpu1 time.Duration // walsender CPU at acquisition and at the last reading
	err        error

	cancel context.CancelFunc
	done   chan struct{}
}

// watchSlot connects to url and starts watching slot. The connection is
// the watch's own: a query cancelled by stop may close it.
func watchSlot(ctx context.Context, url, slot string, holder int32) (*slotWatch, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect the slot watch: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &slotWatch{cancel: cancel, done: make(chan struct{})}
	go w.run(ctx, conn, slot, holder)
	return w, nil
}

func (w *slotWatch) run(ctx context.Context, conn *pgx.Conn, slot string, holder int32) {
	defer close(w.done)
	defer conn.Close(context.WithoutCancel(ctx))
	w.poll(ctx, conn, slot, holder)
}

func (w *slotWatch) poll(ctx context.Context, conn *pgx.Conn, slot string, holder int32) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pid int32
		if err := conn.QueryRow(ctx, "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&pid); err != nil {
			if ctx.Err() == nil {
				w.err = fmt.Errorf("read slot %s: %w", slot, err)
			}
			return
		}
		if pid != 0 && pid != holder {
			w.acquired, w.pid = time.Now(), pid
			break
		}
		if time.Now().After(deadline) {
			w.err = fmt.Errorf("no walsender acquired slot %s within 30 s", slot)
			return
		}
		if !sleep(ctx, acquirePoll) {
			return
		}
	}
	var ok bool
	if w.cpu0, ok = harness.ProcCPU(int(w.pid)); !ok {
		return // the walsender is gone already: no CPU reading
	}
	w.cpu1 = w.cpu0
	for sleep(ctx, cpuPoll) {
		c, ok := harness.ProcCPU(int(w.pid))
		if !ok {
			return
		}
		w.cpu1 = c
	}
}

// stop ends the watch and returns when the walsender acquired the slot and
// the CPU time it used since (to within cpuPoll of its exit).
func (w *slotWatch) stop() (acquired time.Time, walsenderCPU time.Duration, err error) {
	w.cancel()
	<-w.done
	if w.err == nil && w.acquired.IsZero() {
		w.err = fmt.Errorf("the run ended before a walsender acquired the slot")
	}
	return w.acquired, w.cpu1 - w.cpu0, w.err
}

// sleep waits d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
