package replication

import (
	"context"
	"log/slog"
	"time"
)

// LogHandler is a Handler that logs every change at debug level and the
// throughput at info level once per interval. It is what a server with no
// consumers attached runs, and shows the pipeline is alive.
type LogHandler struct {
	Log      *slog.Logger
	Interval time.Duration // default 10s

	changes, txns int
	since         time.Time
	last          Cursor
}

// HandleChange counts ch and logs it at debug level.
func (h *LogHandler) HandleChange(ctx context.Context, ch *Change) error {
	h.changes++
	h.last = ch.Cursor
	if h.Log.Enabled(ctx, slog.LevelDebug) {
		h.Log.DebugContext(ctx, "change", "table", ch.Relation.Schema+"."+ch.Relation.Table, "type", ch.Kind.String(), "cursor", ch.Cursor.String())
	}
	return nil
}

// HandleCommit counts the transaction and logs the rate once per interval.
func (h *LogHandler) HandleCommit(ctx context.Context, c Commit) error {
	h.txns++
	now := time.Now()
	if h.since.IsZero() {
		h.since = now
	}
	interval := h.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	if el := now.Sub(h.since); el >= interval {
		h.Log.InfoContext(ctx, "changes streamed", "changes", h.changes, "transactions", h.txns,
			"changes_per_sec", int(float64(h.changes)/el.Seconds()), "last_cursor", h.last.String())
		h.changes, h.txns, h.since = 0, 0, now
	}
	return nil
}
