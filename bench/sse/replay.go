package sse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// replayRow is the replay of one transport.
type replayRow struct {
	kind     string
	window   int64 // changes in the window after the cursor
	t        tally
	took     time.Duration // from the dial to the last change's arrival
	fillRate float64       // rows/s committed while filling the window
}

// replayBatch is how many rows each transaction of the window's fill
// inserts.
const replayBatch = 1000

// replayRetainBytes is the retention window of the replay's server: far
// more than the window takes, so nothing is evicted.
const replayRetainBytes = 1 << 30

func (r *bench) replay(ctx context.Context, opt options, kind string) (row replayRow, err error) {
	row = replayRow{kind: kind}
	srv, err := r.serve(ctx, "", fmt.Sprintf("WALCAST_RETAIN_BYTES=%d", replayRetainBytes), "WALCAST_RETAIN_AGE=0")
	if err != nil {
		return row, err
	}
	defer func() {
		if serr := srv.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	_, marker := r.b.Marker()
	// A live observer gives the window's start (its first event's id, the
	// stream's position) and says when the server has every change.
	obs, err := dialSSE(ctx, http.DefaultClient, srv.sse, "", marker)
	if err != nil {
		return row, fmt.Errorf("observer: %w", err)
	}
	defer obs.close()
	if err := obs.awaitReady(ctx); err != nil {
		return row, fmt.Errorf("observer: %w", err)
	}
	cursor := obs.cursor
	if cursor == "" {
		return row, errors.New("observer: the first system event has no id")
	}
	fill := time.Now()
	for row.window < int64(opt.replay) {
		n := min(replayBatch, int64(opt.replay)-row.window)
		if _, err := r.b.Load[0].Exec(ctx, `INSERT INTO t (k, sub, payload) SELECT $1, 0, $2 FROM generate_series(1, $3)`, marker, harness.RowPayload, n); err != nil {
			return row, fmt.Errorf("fill the window: %w", err)
		}
		row.window += n
	}
	row.fillRate = float64(row.window) / time.Since(fill).Seconds()
	if err := awaitRows(ctx, obs, row.window, 2*time.Minute); err != nil {
		return row, fmt.Errorf("observer: %w", err)
	}
	obs.close()

	hb := harness.StartHeartbeats(ctx, "2.0.0", harness.HeartbeatInterval)
	defer hb.Stop()
	start := time.Now()
	var c *receiver
	if kind == kindSSE {
		c, err = dialSSE(ctx, http.DefaultClient, srv.sse, cursor, marker)
	} else {
		c, err = dialWS(ctx, http.DefaultClient, hb, srv.ws, cursor, marker)
	}
	if err != nil {
		return row, err
	}
	defer c.close()
	if err := awaitRows(ctx, c, row.window, 5*time.Minute); err != nil {
		return row, err
	}
	row.t = count([]*receiver{c}, row.window)
	row.took = time.Duration(row.t.LastRecv - start.UnixNano())
	return row, srv.ExitedEarly()
}

// awaitRows waits until c counted n rows, its connection ended, or limit
// passed.
func awaitRows(ctx context.Context, c *receiver, n int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for c.received() < n {
		select {
		case <-c.done:
			return fmt.Errorf("connection ended after %d of %d changes: %v", c.received(), n, c.readErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d changes after %v", c.received(), n, limit)
		}
	}
	return nil
}
