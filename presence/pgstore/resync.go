package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/cluster"
	"github.com/walcast/walcast/presence"
)

// resyncLoop reads the other nodes' members from the table when asked:
// once the stream is live, after a gap in a node's batches, after this
// node was declared dead.
func (s *Store) resyncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.resync:
		}
		for {
			err := s.resyncOnce(ctx)
			if err == nil || ctx.Err() != nil {
				break
			}
			s.log.Warn("reading presence from Postgres failed; retrying", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

type snapshotNode struct {
	inc   int64
	alive bool
}

// resyncOnce reads one consistent snapshot of the table and brings every
// node incarnation the view is behind on up to it. Batches already
// applied past the snapshot keep their place (seq decides); a node
// incarnation the snapshot shows dead or replaced leaves.
func (s *Store) resyncOnce(ctx context.Context) error {
	nodes := make(map[string]snapshotNode)
	seqs := make(map[cluster.Incarnation]int64)
	members := make(map[cluster.Incarnation]map[memberKey]presence.Entry)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT node_id, incarnation, dead_at IS NULL FROM realtime.walcast_nodes")
		if err != nil {
			return err
		}
		var id string
		var n snapshotNode
		if _, err := pgx.ForEachRow(rows, []any{&id, &n.inc, &n.alive}, func() error { nodes[id] = n; return nil }); err != nil {
			return err
		}
		var inc cluster.Incarnation
		var seq int64
		rows, _ = tx.Query(ctx, "SELECT node_id, incarnation, seq FROM realtime.walcast_presence_seq")
		if _, err := pgx.ForEachRow(rows, []any{&inc.Node, &inc.N, &seq}, func() error { seqs[inc] = seq; return nil }); err != nil {
			return err
		}
		var k memberKey
		var e presence.Entry
		var meta string
		rows, _ = tx.Query(ctx, "SELECT node_id, incarnation, room, member, key, ref, prev_ref, meta FROM realtime.walcast_presence")
		_, err = pgx.ForEachRow(rows, []any{&inc.Node, &inc.N, &k.room, &k.member, &e.Key, &e.Ref, &e.PrevRef, &meta}, func() error {
			m, err := presence.ParseMeta([]byte(meta))
			if err != nil {
				return nil // written by a node; skip rather than stall
			}
			e.Meta = m
			if members[inc] == nil {
				members[inc] = make(map[memberKey]presence.Entry)
			}
			members[inc][k] = e
			return nil
		})
		return err
	})
	if err != nil {
		return err
	}
	self := s.node.ID()
	s.mu.Lock()
	defer s.mu.Unlock()
	for inc, seq := range seqs {
		n := nodes[inc.Node]
		if inc.Node == self || s.deadLocked(inc) || n.inc != inc.N || !n.alive {
			continue
		}
		r := s.remote(inc)
		if seq <= r.seq {
			continue
		}
		s.replaceLocked(r, members[inc])
		r.seq = seq
		s.drain(r)
	}
	// A view entry the snapshot shows dead or replaced by a later
	// incarnation has missed its Dead message. One the snapshot does not
	// know registered after it.
	for inc := range s.remotes {
		n, ok := nodes[inc.Node]
		if ok && (n.inc > inc.N || n.inc == inc.N && !n.alive) {
			s.markDeadLocked(inc)
			s.dropLocked(inc)
		}
	}
	// A node id the registry no longer holds (its slot was dropped, or it
	// stopped gracefully) cannot commit a batch any more (AliveTx): what
	// it sent before its death is behind the death in the stream.
	for node := range s.dead {
		if _, ok := nodes[node]; !ok {
			delete(s.dead, node)
		}
	}
	return nil
}

// replaceLocked makes r's members exactly want, one diff per room.
func (s *Store) replaceLocked(r *remote, want map[memberKey]presence.Entry) {
	byRoom := make(map[string][]presence.Change)
	for k, m := range r.members {
		if _, keep := want[k]; !keep {
			delete(r.members, k)
			byRoom[k.room] = append(byRoom[k.room], presence.Change{Member: m.id, Leave: true})
		}
	}
	for k, e := range want {
		m, had := r.members[k]
		if !had {
			s.nextID++
			m.id = s.nextID
		}
		m.entry = e
		r.members[k] = m
		byRoom[k.room] = append(byRoom[k.room], presence.Change{Member: m.id, Entry: e})
	}
	for room, changes := range byRoom {
		s.mem.Apply(room, changes)
	}
}
