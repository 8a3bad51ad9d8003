package pgstore

import (
	"context"
	"encoding/json"

	"github.com/walcast/walcast/cluster"
	"github.com/walcast/walcast/presence"
	"github.com/walcast/walcast/replication"
)

var _ replication.MessageHandler = (*Store)(nil)

// HandleMessage applies other nodes' presence batches from the stream to
// the local view, in each node's seq order; a batch past a gap waits for a
// resync to fill it. This node's own batches are skipped: its local view
// already holds its members. A malformed batch is logged and skipped (an
// error would stop the stream).
func (s *Store) HandleMessage(_ context.Context, msg *replication.LogicalMessage) error {
	if msg.Prefix != MessagePrefix {
		return nil
	}
	b := new(batch)
	if err := json.Unmarshal(msg.Content, b); err != nil || b.Node == "" || b.Seq < 1 {
		s.log.Warn("skipping a malformed presence batch", "cursor", msg.Cursor.String(), "error", err)
		return nil
	}
	if b.Node == s.node.ID() {
		return nil
	}
	inc := cluster.Incarnation{Node: b.Node, N: b.Inc}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deadLocked(inc) {
		return nil
	}
	if _, known := s.remotes[inc]; !known {
		s.supersedeLocked(inc)
	}
	r := s.remote(inc)
	switch {
	case b.Seq <= r.seq:
	case b.Seq == r.seq+1:
		s.applyBatch(r, b)
		s.drain(r)
	default:
		if len(r.waiting) < maxWaiting {
			r.waiting = append(r.waiting, b)
		}
		if s.live {
			signal(s.resync)
		}
	}
	return nil
}

func (s *Store) remote(inc cluster.Incarnation) *remote {
	r := s.remotes[inc]
	if r == nil {
		r = &remote{members: make(map[memberKey]remoteMember)}
		s.remotes[inc] = r
	}
	return r
}

// supersedeLocked drops the incarnations of inc's node older than inc:
// incarnations come from one sequence, so a node writing as inc has left
// every earlier life behind, whether or not a death was declared (after a
// Postgres crash empties the unlogged tables, nobody declares one).
func (s *Store) supersedeLocked(inc cluster.Incarnation) {
	for old := range s.remotes {
		if old.Node == inc.Node && old.N < inc.N {
			s.markDeadLocked(old)
			s.dropLocked(old)
		}
	}
}

// drain applies the waiting batches that follow r's seq now.
func (s *Store) drain(r *remote) {
	for len(r.waiting) > 0 {
		progress := false
		kept := r.waiting[:0]
		for _, b := range r.waiting {
			switch {
			case b.Seq <= r.seq:
			case b.Seq == r.seq+1:
				s.applyBatch(r, b)
				progress = true
			default:
				kept = append(kept, b)
			}
		}
		r.waiting = kept
		if !progress {
			return
		}
	}
}

// applyBatch applies b's ops to the view, one Apply (one diff) per room.
func (s *Store) applyBatch(r *remote, b *batch) {
	byRoom := make(map[string][]presence.Change)
	var order []string
	for _, o := range b.Ops {
		k := memberKey{o.Room, o.Member}
		m, had := r.members[k]
		var c presence.Change
		if o.Leave {
			if !had {
				continue
			}
			delete(r.members, k)
			c = presence.Change{Member: m.id, Leave: true}
		} else {
			meta, err := presence.ParseMeta(o.Meta)
			if err != nil && len(o.Meta) > 0 {
				s.log.Warn("skipping a presence entry with a bad meta", "from", b.Node, "room", o.Room)
				continue
			}
			if !had {
				s.nextID++
				m.id = s.nextID
			}
			m.entry = presence.Entry{Key: o.Key, Ref: o.Ref, PrevRef: o.PrevRef, Meta: meta}
			r.members[k] = m
			c = presence.Change{Member: m.id, Entry: m.entry}
		}
		if _, ok := byRoom[o.Room]; !ok {
			order = append(order, o.Room)
		}
		byRoom[o.Room] = append(byRoom[o.Room], c)
	}
	for _, room := range order {
		s.mem.Apply(room, byRoom[room])
	}
	r.seq = b.Seq
}

// Dead implements cluster.Watcher: the incarnation's members leave the
// view, one diff per room.
func (s *Store) Dead(inc cluster.Incarnation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markDeadLocked(inc)
	s.dropLocked(inc)
}

// deadLocked reports whether inc is known dead.
func (s *Store) deadLocked(inc cluster.Incarnation) bool {
	last, ok := s.dead[inc.Node]
	return ok && inc.N <= last
}

// markDeadLocked records inc, and so every earlier incarnation of its
// node, as dead.
func (s *Store) markDeadLocked(inc cluster.Incarnation) {
	if last, ok := s.dead[inc.Node]; !ok || inc.N > last {
		s.dead[inc.Node] = inc.N
	}
}

func (s *Store) dropLocked(inc cluster.Incarnation) {
	r := s.remotes[inc]
	if r == nil {
		return
	}
	delete(s.remotes, inc)
	byRoom := make(map[string][]presence.Change)
	for k, m := range r.members {
		byRoom[k.room] = append(byRoom[k.room], presence.Change{Member: m.id, Leave: true})
	}
	for room, changes := range byRoom {
		s.mem.Apply(room, changes)
	}
	if len(r.members) > 0 {
		s.log.Info("a dead node's members left", "dead_node", inc.Node, "incarnation", inc.N, "members", len(r.members), "rooms", len(byRoom))
	}
}

// Live implements cluster.Watcher: from now on the stream brings every
// batch committed, so a read of the table now completes the view.
func (s *Store) Live() {
	s.mu.Lock()
	s.live = true
	s.mu.Unlock()
	signal(s.resync)
}
