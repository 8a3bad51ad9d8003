package broadcast

import (
	"sync"
	"time"
)

// Retention bounds what a Retainer keeps: both bounds apply. A
// non-positive MaxBytes keeps nothing.
type Retention struct {
	MaxBytes int           // bytes of kept broadcasts, over all rooms (payload, meta, event and bookkeeping)
	MaxAge   time.Duration // broadcasts older than this leave (0: no age bound)
}

// Defaults of the retention of broadcasts.
const (
	DefaultRetainBytes = 16 << 20
	DefaultRetainAge   = 10 * time.Minute
)

// Retained is one kept broadcast: a copy of its envelope's content, the
// time it was kept and its id (increasing in the order kept, on this
// Retainer).
type Retained struct {
	ID      uint64
	At      time.Time
	Kind    EnvelopeKind
	Event   string
	Meta    []byte
	Payload []byte
	JSON    bool
	Binary  bool
}

// retainOverhead is what a kept broadcast costs beyond its bytes: the
// entry, its slices and the room's index.
const retainOverhead = 128

func (r *Retained) size() int { return retainOverhead + len(r.Event) + len(r.Meta) + len(r.Payload) }

// Retainer keeps the recent broadcasts of rooms so that a channel that
// joins later can have them replayed. It is one ring over every room, in
// the order kept, so the bounds apply to the node as a whole: the oldest
// broadcast leaves first, whatever its room. It is safe for concurrent
// use.
type Retainer struct {
	max Retention
	now func() time.Time

	mu     sync.Mutex
	ring   []*retainedIn // kept, oldest first, from head on
	head   int
	bytes  int
	nextID uint64
	rooms  map[string][]*retainedIn // each room's kept broadcasts, oldest first
}

type retainedIn struct {
	Retained
	room string
}

// NewRetainer returns a Retainer with the bounds of r.
func NewRetainer(r Retention) *Retainer {
	return &Retainer{max: r, now: time.Now, rooms: make(map[string][]*retainedIn), nextID: 1}
}

// Keep copies e's content into room's retained broadcasts, evicting the
// oldest ones over the bounds. A broadcast bigger than MaxBytes is not
// kept. Presence diffs are not broadcasts and are never kept.
func (k *Retainer) Keep(room string, e *Envelope) {
	if k == nil || k.max.MaxBytes <= 0 || e.Kind == KindPresenceDiff {
		return
	}
	r := &retainedIn{room: room, Retained: Retained{
		Kind: e.Kind, Event: e.Event, JSON: e.JSON, Binary: e.Binary,
		Meta:    append([]byte(nil), e.Meta...),
		Payload: append([]byte(nil), e.Payload...),
	}}
	size := r.size()
	if size > k.max.MaxBytes {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	r.At = k.now()
	r.ID = k.nextID
	k.nextID++
	k.evictLocked(k.max.MaxBytes-size, r.At)
	k.ring = append(k.ring, r)
	k.bytes += size
	k.rooms[room] = append(k.rooms[room], r)
}

// evictLocked drops the oldest broadcasts until at most limit bytes are
// kept and none older than MaxAge at now.
func (k *Retainer) evictLocked(limit int, now time.Time) {
	for k.head < len(k.ring) {
		r := k.ring[k.head]
		old := k.max.MaxAge > 0 && now.Sub(r.At) > k.max.MaxAge
		if k.bytes <= limit && !old {
			break
		}
		k.bytes -= r.size()
		k.ring[k.head] = nil
		k.head++
		// r is its room's oldest: rooms keep the ring's order.
		rs := k.rooms[r.room]
		rs[0] = nil
		if rs = rs[1:]; len(rs) == 0 {
			delete(k.rooms, r.room)
		} else {
			k.rooms[r.room] = rs
		}
	}
	if k.head > 0 && 2*k.head >= len(k.ring) {
		n := copy(k.ring, k.ring[k.head:])
		clear(k.ring[n:])
		k.ring, k.head = k.ring[:n], 0
	}
}

// Since returns, oldest first, the newest broadcasts of room kept at or
// after since: at most limit of them, and no more than maxBytes of
// payload, meta and event together (the oldest are left out first; the
// newest one is returned whatever its size). The Retained values share
// their bytes with the Retainer: callers must not modify them.
func (k *Retainer) Since(room string, since time.Time, limit, maxBytes int) []Retained {
	if k == nil || limit <= 0 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.evictLocked(k.max.MaxBytes, k.now())
	rs := k.rooms[room]
	var out []Retained
	bytes := 0
	for i := len(rs) - 1; i >= 0 && len(out) < limit; i-- {
		r := rs[i]
		if r.At.Before(since) {
			break
		}
		bytes += r.size() - retainOverhead
		if len(out) > 0 && bytes > maxBytes {
			break
		}
		out = append(out, r.Retained)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Bytes returns what the kept broadcasts cost.
func (k *Retainer) Bytes() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.bytes
}
