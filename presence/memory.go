package presence

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

// shardCount spreads rooms over this many locks, so that a change in a big
// room (whose Sink call fans out to every subscriber) holds up few others.
const shardCount = 64

// Memory is the single-node Store: every room lives in this process. The
// zero value is not usable; call NewMemory.
type Memory struct {
	members atomic.Uint64 // the last MemberID handed out
	sink    Sink
	seed    maphash.Seed
	shards  [shardCount]shard
}

var _ Store = (*Memory)(nil)

type shard struct {
	mu    sync.Mutex
	rooms map[string]*room // a room is dropped when its last member leaves
}

type room struct {
	members map[MemberID]*tracked
	seq     uint64 // order of arrival, for a stable state
	state   []byte // encoded state, built on demand; nil after a change
}

type tracked struct {
	Entry
	seq uint64
}

// NewMemory returns an empty store that hands every diff to sink (which
// may be nil).
func NewMemory(sink Sink) *Memory {
	m := &Memory{sink: sink, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].rooms = make(map[string]*room)
	}
	return m
}

// NewMember implements Store.
func (m *Memory) NewMember() MemberID { return MemberID(m.members.Add(1)) }

func (m *Memory) shard(room string) *shard {
	return &m.shards[maphash.String(m.seed, room)%shardCount]
}

// Track implements Store.
func (m *Memory) Track(name string, member MemberID, key string, meta Meta) (Diff, bool) {
	sh := m.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[name]
	var old *tracked
	if r != nil {
		old = r.members[member]
	}
	if old != nil && old.Key == key && old.Meta == meta {
		return Diff{}, false
	}
	if r == nil {
		r = &room{members: make(map[MemberID]*tracked)}
		sh.rooms[name] = r
	}
	r.seq++
	e := &tracked{Entry: Entry{Key: key, Ref: newRef(), Meta: meta}, seq: r.seq}
	both := make([]Entry, 2) // one allocation for both sides
	d := Diff{Joins: both[:1:1]}
	if old != nil {
		if old.Key == key {
			// An update: the client pairs the metas by phx_ref_prev, and
			// the member keeps its place in the state.
			e.PrevRef, e.seq = old.Ref, old.seq
		}
		both[1] = old.Entry
		d.Leaves = both[1:2:2]
	}
	both[0] = e.Entry
	r.members[member] = e
	r.state = nil
	if m.sink != nil {
		m.sink(name, d)
	}
	return d, true
}

// Untrack implements Store.
func (m *Memory) Untrack(name string, member MemberID) Diff {
	sh := m.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[name]
	if r == nil {
		return Diff{}
	}
	old := r.members[member]
	if old == nil {
		return Diff{}
	}
	delete(r.members, member)
	if len(r.members) == 0 {
		delete(sh.rooms, name)
	}
	r.state = nil
	d := Diff{Leaves: []Entry{old.Entry}}
	if m.sink != nil {
		m.sink(name, d)
	}
	return d
}

var emptyState = []byte("{}")

// Sync implements Store. The state is encoded once per change and reused
// by every Sync until the next one: joins come in storms.
func (m *Memory) Sync(name string, f func(state []byte)) {
	sh := m.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[name]
	if r == nil {
		f(emptyState)
		return
	}
	if r.state == nil {
		r.state = r.encode()
	}
	f(r.state)
}

// State returns a copy of room's state ({} when empty).
func (m *Memory) State(name string) []byte {
	var out []byte
	m.Sync(name, func(state []byte) { out = append([]byte(nil), state...) })
	return out
}

// Len returns how many members have a meta in room.
func (m *Memory) Len(name string) int {
	sh := m.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.rooms[name]; r != nil {
		return len(r.members)
	}
	return 0
}

// encode builds {"<key>":{"metas":[…]},…}: keys sorted, and each key's
// metas in order of arrival, so that equal rooms encode equally.
func (r *room) encode() []byte {
	entries := make([]*tracked, 0, len(r.members))
	size := 2
	for _, e := range r.members {
		entries = append(entries, e)
		// key, refs and punctuation; sized once, as states run to megabytes
		size += 2*len(e.Key) + e.Meta.Len() + 80
	}
	slices.SortFunc(entries, func(a, b *tracked) int {
		if c := cmp.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	dst := make([]byte, 0, size)
	dst = append(dst, '{')
	for i, e := range entries {
		if i == 0 || entries[i-1].Key != e.Key {
			if i > 0 {
				dst = append(dst, "]},"...)
			}
			dst = appendString(dst, e.Key)
			dst = append(dst, `:{"metas":[`...)
		} else {
			dst = append(dst, ',')
		}
		dst = e.AppendJSON(dst)
	}
	if len(entries) > 0 {
		dst = append(dst, "]}"...)
	}
	return append(dst, '}')
}

// newRef returns a phx_ref: 16 base64url characters of 96 random bits, as
// unique across nodes as Phoenix.Tracker's, so a shared store can keep
// them.
func newRef() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
