package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestBroadcast: realtime-js clients broadcasting to each other with self
// false and true, with ack (and the payload limit), binary payloads, a
// socket of the other serializer in the room, httpSend, the REST batch
// endpoint, and realtime.send from SQL.
func TestBroadcast(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		h.run(vsn, "broadcast.mjs", "/realtime/v1", map[string]func() error{
			// A rolled-back send, two private ones (explicit, and by
			// Supabase's default), then the committed public one, last so
			// that the script has seen everything once it arrives.
			"db": func() error {
				if err := h.tx(false, `SELECT realtime.send('{"n": 0}'::jsonb, 'rolled-back', 'chat', false)`); err != nil {
					return err
				}
				if err := h.tx(true, `SELECT realtime.send('{"n": 2}'::jsonb, 'private-explicit', 'chat', true)`); err != nil {
					return err
				}
				if err := h.tx(true, `SELECT realtime.send('{"n": 3}'::jsonb, 'private-default', 'chat')`); err != nil {
					return err
				}
				return h.tx(true,
					`INSERT INTO others VALUES (100, 'same transaction')`,
					`SELECT realtime.send('{"n": 1}'::jsonb, 'committed', 'chat', false)`)
			},
		})
	})
}

// tx runs stmts in one transaction and commits it, or rolls it back when
// commit is false.
func (h *harness) tx(commit bool, stmts ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := h.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	if !commit {
		return tx.Rollback(ctx)
	}
	return tx.Commit(ctx)
}
