package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// checkSlotFree fails when a process streams from the node's slot: a
// node of the same id is running. A walsender whose node is gone (it just
// stopped, or was killed and Postgres has not noticed yet) still holds the
// slot for a while: the check waits up to three heartbeats for the slot
// to be let go, then takes a holder whose node stopped heartbeating for
// stale (the replication stream terminates such a walsender of ours
// before it takes the slot). A node of this id that is alive keeps
// heartbeating, and is refused.
func (n *Node) checkSlotFree(ctx context.Context) error {
	if n.cfg.Slot == "" {
		return nil
	}
	deadline := time.Now().Add(3 * n.cfg.Heartbeat)
	for {
		var pid int32
		err := n.cfg.Pool.QueryRow(ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active", n.cfg.Slot).Scan(&pid)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("look up slot %s: %w", n.cfg.Slot, err)
		}
		if time.Now().After(deadline) {
			if alive, err := n.peerHeartbeating(ctx); err != nil || alive {
				if err != nil {
					return err
				}
				return fmt.Errorf("slot %s is in use (walsender pid %d): another walcast runs with node id %q; give each node its own --node-id (or --slot)", n.cfg.Slot, pid, n.cfg.ID)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(n.cfg.Heartbeat / 10):
		}
	}
}

// peerHeartbeating reports whether a node of this id heartbeated within
// the last two heartbeats.
func (n *Node) peerHeartbeating(ctx context.Context) (bool, error) {
	var alive bool
	err := n.cfg.Pool.QueryRow(ctx, `SELECT heartbeat_at > now() - make_interval(secs => $2) AND dead_at IS NULL
FROM realtime.walcast_nodes WHERE node_id = $1`, n.cfg.ID, (2 * n.cfg.Heartbeat).Seconds()).Scan(&alive)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up node %s: %w", n.cfg.ID, err)
	}
	return alive, nil
}

// register gives the node a new incarnation. A previous incarnation that
// was not declared dead yet (the node restarted within the TTL) dies in
// the same transaction, so its members leave everywhere.
func (n *Node) register(ctx context.Context) (int64, error) {
	var inc int64
	err := pgx.BeginFunc(ctx, n.cfg.Pool, func(tx pgx.Tx) error {
		var prev int64
		var prevAlive bool
		err := tx.QueryRow(ctx, "SELECT incarnation, dead_at IS NULL FROM realtime.walcast_nodes WHERE node_id = $1 FOR UPDATE", n.cfg.ID).Scan(&prev, &prevAlive)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if prevAlive {
			if err := n.bury(ctx, tx, []Incarnation{{n.cfg.ID, prev}}); err != nil {
				return err
			}
		}
		err = tx.QueryRow(ctx, `
INSERT INTO realtime.walcast_nodes AS n (node_id, incarnation, address, slot)
VALUES ($1, nextval('realtime.walcast_incarnation'), $2, $3)
ON CONFLICT (node_id) DO UPDATE SET incarnation = EXCLUDED.incarnation, address = EXCLUDED.address,
    slot = EXCLUDED.slot, started_at = now(), heartbeat_at = now(), dead_at = NULL
RETURNING incarnation`, n.cfg.ID, n.cfg.Address, n.cfg.Slot).Scan(&inc)
		if err != nil {
			return err
		}
		if n.cfg.Slot != "" {
			// Written once per slot and node: the ledger outlives a crash.
			_, err = tx.Exec(ctx, `INSERT INTO realtime.walcast_slots AS s (slot, node_id) VALUES ($1, $2)
ON CONFLICT (slot) DO UPDATE SET node_id = EXCLUDED.node_id WHERE s.node_id <> EXCLUDED.node_id`, n.cfg.Slot, n.cfg.ID)
			if err != nil {
				return err
			}
		}
		return n.emit(ctx, tx, nodeMessage{Hello: &wireInc{n.cfg.ID, inc}})
	})
	if err != nil {
		return 0, fmt.Errorf("register node %s in realtime.walcast_nodes (run `walcast migrate`?): %w", n.cfg.ID, err)
	}
	return inc, nil
}

// heartbeat refreshes the node's registration and reports false when the
// node is no longer registered as alive under its incarnation.
func (n *Node) heartbeat(ctx context.Context) (bool, error) {
	tag, err := n.cfg.Pool.Exec(ctx, `UPDATE realtime.walcast_nodes SET heartbeat_at = now()
WHERE node_id = $1 AND incarnation = $2 AND dead_at IS NULL`, n.cfg.ID, n.inc.Load())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// declareDead marks every node silent for the TTL dead, has the watchers
// bury it and tells every node through the stream. Survivors race for it
// harmlessly: the row lock lets one of them win and the others find
// nothing left to declare.
func (n *Node) declareDead(ctx context.Context) error {
	var dead []Incarnation
	err := pgx.BeginFunc(ctx, n.cfg.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE realtime.walcast_nodes SET dead_at = now()
WHERE dead_at IS NULL AND node_id <> $1 AND heartbeat_at < now() - make_interval(secs => $2)
RETURNING node_id, incarnation`, n.cfg.ID, n.cfg.TTL.Seconds())
		if err != nil {
			return err
		}
		dead, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Incarnation, error) {
			var i Incarnation
			return i, r.Scan(&i.Node, &i.N)
		})
		if err != nil || len(dead) == 0 {
			return err
		}
		return n.bury(ctx, tx, dead)
	})
	if err != nil {
		return err
	}
	for _, d := range dead {
		n.log.Warn("declared a node dead: no heartbeat within the TTL", "dead_node", d.Node, "incarnation", d.N, "ttl", n.cfg.TTL)
	}
	return nil
}

// bury runs the watchers' Bury and tells every node of the deaths.
func (n *Node) bury(ctx context.Context, tx pgx.Tx, dead []Incarnation) error {
	for _, w := range n.watchers {
		if err := w.Bury(ctx, tx, dead); err != nil {
			return err
		}
	}
	// Walsenders send only flushed WAL: under synchronous_commit=off the
	// news would wait for the WAL writer.
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = local"); err != nil {
		return err
	}
	msg := nodeMessage{}
	for _, d := range dead {
		msg.Dead = append(msg.Dead, wireInc(d))
	}
	return n.emit(ctx, tx, msg)
}

// reapSlots drops the slots of nodes dead for the slot TTL and forgets
// them. A slot in use is left alone: its node is back, or another process
// took its name.
func (n *Node) reapSlots(ctx context.Context) error {
	rows, err := n.cfg.Pool.Query(ctx, `SELECT node_id, incarnation, slot FROM realtime.walcast_nodes
WHERE dead_at IS NOT NULL AND node_id <> $1 AND heartbeat_at < now() - make_interval(secs => $2)`,
		n.cfg.ID, n.cfg.SlotTTL.Seconds())
	if err != nil {
		return err
	}
	type gone struct {
		node string
		inc  int64
		slot string
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gone, error) {
		var g gone
		return g, r.Scan(&g.node, &g.inc, &g.slot)
	})
	if err != nil {
		return err
	}
	for _, g := range all {
		var active bool
		err := n.cfg.Pool.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", g.slot).Scan(&active)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if active {
			continue
		}
		if err == nil {
			// Another survivor may drop it first: then this fails with
			// "does not exist", which the next pass no longer meets.
			if _, err := n.cfg.Pool.Exec(ctx, "SELECT pg_drop_replication_slot($1)", g.slot); err != nil {
				return fmt.Errorf("drop slot %s of dead node %s: %w", g.slot, g.node, err)
			}
			n.log.Warn("dropped the slot of a dead node", "dead_node", g.node, "incarnation", g.inc, "slot", g.slot, "slot_ttl", n.cfg.SlotTTL)
		}
		// The slot's ledger row goes with the registry row, unless the
		// node came back meanwhile (a new incarnation: nothing deleted).
		if _, err := n.cfg.Pool.Exec(ctx, `WITH gone AS (DELETE FROM realtime.walcast_nodes
    WHERE node_id = $1 AND incarnation = $2 AND dead_at IS NOT NULL RETURNING node_id, slot)
DELETE FROM realtime.walcast_slots s USING gone WHERE s.slot = gone.slot AND s.node_id = gone.node_id`, g.node, g.inc); err != nil {
			return err
		}
	}
	return nil
}

// adoptOrphanSlots registers as dead, as of now, the node of every slot in
// the ledger (realtime.walcast_slots) that no registry row names: the
// registry is unlogged, so a crash of Postgres forgets the nodes that died
// before it, and a node that stopped gracefully deleted its row. reapSlots
// drops such a slot SlotTTL later unless its node comes back first (it
// then registers over the row). The row's incarnation is 0: it stands for
// no life of the node.
func (n *Node) adoptOrphanSlots(ctx context.Context) error {
	rows, err := n.cfg.Pool.Query(ctx, `INSERT INTO realtime.walcast_nodes (node_id, incarnation, slot, dead_at)
SELECT s.node_id, 0, s.slot, now() FROM realtime.walcast_slots s
WHERE s.node_id <> $1 AND NOT EXISTS (SELECT 1 FROM realtime.walcast_nodes r WHERE r.node_id = s.node_id OR r.slot = s.slot)
ON CONFLICT (node_id) DO NOTHING
RETURNING node_id, slot`, n.cfg.ID)
	if err != nil {
		return err
	}
	var node, slot string
	_, err = pgx.ForEachRow(rows, []any{&node, &slot}, func() error {
		n.log.Info("a slot whose node is not registered (it stopped, or died before a crash of Postgres): dropped after the slot TTL unless the node comes back",
			"dead_node", node, "slot", slot, "slot_ttl", n.cfg.SlotTTL)
		return nil
	})
	return err
}

// leave deletes the node's registration on a graceful stop and tells the
// other nodes that this incarnation ended, so that they stop counting it
// at once rather than after the TTL. Its slot stays in the ledger: a
// survivor drops it SlotTTL later unless the node comes back.
func (n *Node) leave(ctx context.Context) error {
	inc := n.Incarnation()
	err := pgx.BeginFunc(ctx, n.cfg.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM realtime.walcast_nodes WHERE node_id = $1 AND incarnation = $2", inc.Node, inc.N)
		if err != nil || tag.RowsAffected() == 0 {
			return err // declared dead and replaced meanwhile: nothing of ours left
		}
		return n.bury(ctx, tx, []Incarnation{inc})
	})
	if err != nil {
		return fmt.Errorf("delete the registration of node %s: %w (the others declare it dead after the TTL)", inc.Node, err)
	}
	return nil
}

// countPeers looks for other nodes registered alive.
func (n *Node) countPeers(ctx context.Context) error {
	var any bool
	err := n.cfg.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM realtime.walcast_nodes WHERE dead_at IS NULL AND node_id <> $1)", n.cfg.ID).Scan(&any)
	if err == nil {
		n.peers.Store(any)
	}
	return err
}
