package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/cluster"
)

// MessagePrefix is the pg_logical_emit_message prefix of presence batches.
const MessagePrefix = "walcast.presence"

// batch is one committed write of a node incarnation: what every other
// node applies to its view, in seq order.
type batch struct {
	Node string   `json:"n"`
	Inc  int64    `json:"i"`
	Seq  int64    `json:"s"`
	Ops  []wireOp `json:"o"`
}

type wireOp struct {
	Room    string          `json:"r"`
	Member  int64           `json:"m"`
	Leave   bool            `json:"x,omitempty"`
	Key     string          `json:"k,omitempty"`
	Ref     string          `json:"f,omitempty"`
	PrevRef string          `json:"p,omitempty"`
	Meta    json.RawMessage `json:"d,omitempty"`
}

var errDeclaredDead = errors.New("this node was declared dead")

// writeLoop writes pending changes until ctx ends: one transaction per
// round trip, holding whatever changed meanwhile (a member changed twice
// is written once, as it is now).
func (s *Store) writeLoop(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		err := s.write(ctx)
		switch {
		case err == nil:
			backoff = 50 * time.Millisecond
			continue
		case ctx.Err() != nil:
			return
		case errors.Is(err, errDeclaredDead):
			// The heartbeat registers the node again and Reincarnated
			// queues every member; that wakes this loop.
			continue
		}
		s.log.Warn("writing presence to Postgres failed; retrying", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
		signal(s.wake)
	}
}

// write commits the pending changes as one batch. On failure they go back
// to pending, behind anything newer.
func (s *Store) write(ctx context.Context) error {
	s.mu.Lock()
	ops, announce := s.pending, s.announce
	s.pending, s.announce = make(map[memberKey]op), false
	s.mu.Unlock()
	if len(ops) == 0 && !announce {
		return nil
	}
	inc := s.node.Incarnation()
	if inc != s.seqOf {
		s.seqOf, s.seq = inc, 0
	}
	b := &batch{Node: inc.Node, Inc: inc.N, Seq: s.seq + 1, Ops: make([]wireOp, 0, len(ops))}
	var del struct {
		rooms   []string
		members []int64
	}
	var put struct {
		rooms, keys, refs, prevs, metas []string
		members                         []int64
	}
	for k, o := range ops {
		if o.leave {
			b.Ops = append(b.Ops, wireOp{Room: k.room, Member: k.member, Leave: true})
			del.rooms, del.members = append(del.rooms, k.room), append(del.members, k.member)
			continue
		}
		e := o.entry
		meta := e.Meta.String()
		b.Ops = append(b.Ops, wireOp{Room: k.room, Member: k.member, Key: e.Key, Ref: e.Ref, PrevRef: e.PrevRef, Meta: json.RawMessage(meta)})
		put.rooms, put.members, put.keys = append(put.rooms, k.room), append(put.members, k.member), append(put.keys, e.Key)
		put.refs, put.prevs, put.metas = append(put.refs, e.Ref), append(put.prevs, e.PrevRef), append(put.metas, meta)
	}
	content, err := json.Marshal(b)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		alive, err := cluster.AliveTx(ctx, tx, inc)
		if err != nil {
			return err
		}
		if !alive {
			return errDeclaredDead
		}
		// Walsenders send only flushed WAL: without this, under
		// synchronous_commit=off other nodes would wait for the WAL writer.
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = local"); err != nil {
			return err
		}
		if len(del.rooms) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM realtime.walcast_presence p USING unnest($3::text[], $4::bigint[]) AS d(room, member)
WHERE p.node_id = $1 AND p.incarnation = $2 AND p.room = d.room AND p.member = d.member`, inc.Node, inc.N, del.rooms, del.members); err != nil {
				return err
			}
		}
		if len(put.rooms) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO realtime.walcast_presence (node_id, incarnation, room, member, key, ref, prev_ref, meta)
SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[])
ON CONFLICT (node_id, incarnation, room, member) DO UPDATE SET key = EXCLUDED.key, ref = EXCLUDED.ref,
    prev_ref = EXCLUDED.prev_ref, meta = EXCLUDED.meta`,
				inc.Node, inc.N, put.rooms, put.members, put.keys, put.refs, put.prevs, put.metas); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO realtime.walcast_presence_seq (node_id, incarnation, seq) VALUES ($1, $2, $3)
ON CONFLICT (node_id, incarnation) DO UPDATE SET seq = EXCLUDED.seq`, inc.Node, inc.N, b.Seq); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_logical_emit_message(true, $1, $2::text)", MessagePrefix, string(content))
		return err
	})
	if err != nil {
		s.mu.Lock()
		s.announce = s.announce || announce
		for k, o := range ops {
			if _, newer := s.pending[k]; !newer {
				s.pending[k] = o
			}
		}
		s.mu.Unlock()
		return err
	}
	s.seq = b.Seq
	return nil
}

// Bury implements cluster.Watcher: it deletes the dead incarnations' rows
// in the transaction that declares them dead.
func (s *Store) Bury(ctx context.Context, tx pgx.Tx, dead []cluster.Incarnation) error {
	nodes, incs := make([]string, len(dead)), make([]int64, len(dead))
	for i, d := range dead {
		nodes[i], incs[i] = d.Node, d.N
	}
	for _, table := range []string{"realtime.walcast_presence", "realtime.walcast_presence_seq"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` t USING unnest($1::text[], $2::bigint[]) AS d(node_id, incarnation)
WHERE t.node_id = d.node_id AND t.incarnation = d.incarnation`, nodes, incs); err != nil {
			return err
		}
	}
	return nil
}

// Reincarnated implements cluster.Watcher: the node lives on under a new
// incarnation, whose first batch writes every local member again (with
// the refs it has, so that every node shows the same state), and the
// view of the others is read again, since this node's stream may have
// lost what happened while it was away.
func (s *Store) Reincarnated(int64) {
	s.mu.Lock()
	s.pending = make(map[memberKey]op, len(s.local))
	for k, e := range s.local {
		s.pending[k] = op{entry: e}
	}
	s.announce = true
	n := len(s.local)
	s.mu.Unlock()
	s.log.Info("tracking this node's members again under its new incarnation", "members", n)
	signal(s.wake)
	signal(s.resync)
}
