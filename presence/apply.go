package presence

// Change is what Memory.Apply does to one member of a room: Leave removes
// its meta; otherwise Entry becomes its meta, with the refs it carries.
type Change struct {
	Member MemberID
	Leave  bool
	Entry  Entry
}

// Apply makes several changes to a room at once, keeping the refs each
// Entry carries: it is how a store shared by several nodes brings other
// nodes' members into the local view, where they must look exactly as on
// the node that tracked them. The changes' combined diff goes to the Sink
// in one call (a dead node's members leave in one diff per room) and is
// returned. A put whose member already has the same ref changes nothing;
// a put under the member's current key keeps its place in the state, as
// Track's updates do.
func (m *Memory) Apply(name string, changes []Change) Diff {
	sh := m.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[name]
	var d Diff
	for _, c := range changes {
		var old *tracked
		if r != nil {
			old = r.members[c.Member]
		}
		if c.Leave {
			if old != nil {
				delete(r.members, c.Member)
				d.Leaves = append(d.Leaves, old.Entry)
			}
			continue
		}
		if old != nil && old.Entry == c.Entry {
			continue
		}
		if r == nil {
			r = &room{members: make(map[MemberID]*tracked)}
			sh.rooms[name] = r
		}
		r.seq++
		e := &tracked{Entry: c.Entry, seq: r.seq}
		if old != nil {
			if old.Key == c.Entry.Key {
				e.seq = old.seq
			}
			d.Leaves = append(d.Leaves, old.Entry)
		}
		r.members[c.Member] = e
		d.Joins = append(d.Joins, c.Entry)
	}
	if d.Empty() {
		return d
	}
	r.state = nil
	if len(r.members) == 0 {
		delete(sh.rooms, name)
	}
	if m.sink != nil {
		m.sink(name, d)
	}
	return d
}
