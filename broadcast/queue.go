package broadcast

import (
	"sync"
	"sync/atomic"
)

// DefaultQueueBytes is the bound of a Queue created with a non-positive size.
const DefaultQueueBytes = 1 << 20

// Frame is one outbound WebSocket message, written as Head+Body+Tail. Body
// is usually shared by every connection the message goes to and is never
// modified; Head and Tail are per connection (or shared constants). Splitting
// the message lets one encoded change be queued to thousands of connections
// without copying it.
type Frame struct {
	Binary           bool
	Head, Body, Tail []byte
}

// Len is the size of the message in bytes.
func (f Frame) Len() int { return len(f.Head) + len(f.Body) + len(f.Tail) }

// Queue is one connection's outbound queue, bounded in bytes. Any number of
// goroutines may Push; one writer drains it with PopAll. Push never blocks
// and never waits for the writer: when a frame does not fit it returns false
// and the caller treats the connection as a slow consumer. That is what keeps
// the replication loop from ever waiting for a browser.
//
// Frames are kept by value in a ring that only grows while it is full, so a
// Push in steady state does not allocate. Most connections are idle most of
// the time, so an emptied queue returns a ring of smallRingLen frames to a
// shared pool and takes one back on its next Push: an idle connection holds
// no ring at all. A lone frame, the usual case when the writer keeps up,
// does not need a ring either: it waits in one, a field of the queue, and
// a broadcast to thousands of connections touches no ring memory.
type Queue struct {
	mu     sync.Mutex
	one    Frame   // the frame queued when n == 1 and ring is nil
	ring   []Frame // length is zero or a power of two
	head   int     // index of the oldest frame
	n      int     // frames queued
	bytes  int     // sum of their Len
	max    int
	closed bool

	dropped atomic.Uint64
}

// shrinkAbove is the ring length past which an emptied ring is released: a
// burst must not pin a large ring to an idle connection.
const shrinkAbove = 1024

// smallRingLen is the length of a queue's first ring and the only length
// that is pooled. A connection that once needed a bigger ring keeps it (up
// to shrinkAbove): it is likely to need it again, and growing is what
// allocates.
const smallRingLen = 8

// smallRing is a pooled ring. The pool holds pointers to arrays, not slices,
// so Get and Put do not allocate an interface value.
type smallRing [smallRingLen]Frame

// smallRings holds cleared rings of emptied queues. It is shared by every
// queue, so thousands of idle connections share the few rings that the
// active ones need at any moment.
var smallRings = sync.Pool{New: func() any { return new(smallRing) }}

// NewQueue returns an empty queue holding at most maxBytes bytes of frames
// (DefaultQueueBytes when maxBytes <= 0).
func NewQueue(maxBytes int) *Queue {
	q := new(Queue)
	q.Init(maxBytes)
	return q
}

// Init readies a zero Queue that is part of a larger struct, as NewQueue
// does: a connection that holds its queue by value saves a pointer and a
// separate object to fetch for every frame it is sent. Init must come
// before any other call.
func (q *Queue) Init(maxBytes int) {
	if maxBytes <= 0 {
		maxBytes = DefaultQueueBytes
	}
	q.max = maxBytes
}

// Push appends f and reports whether it was queued. It returns false, and
// counts the frame as dropped, when the queue is closed or when f would take
// the queued bytes past the bound. A frame larger than the whole bound is
// accepted into an empty queue, so that one big message can still be
// delivered to a client that keeps up.
func (q *Queue) Push(f Frame) bool {
	q.mu.Lock()
	if q.closed || (q.n > 0 && q.bytes+f.Len() > q.max) {
		q.mu.Unlock()
		q.dropped.Add(1)
		return false
	}
	q.pushLocked(f)
	q.mu.Unlock()
	return true
}

// pushLocked appends f; q.mu is held and f fits.
func (q *Queue) pushLocked(f Frame) {
	switch {
	case q.n == 0 && q.ring == nil:
		q.one = f
	default:
		if q.ring == nil || q.n == len(q.ring) {
			q.grow()
		}
		q.ring[(q.head+q.n)&(len(q.ring)-1)] = f
	}
	q.n++
	q.bytes += f.Len()
}

// grow gives the queue a pooled ring (holding the lone frame, if any), or
// doubles a full one, keeping the frames in order from index 0.
func (q *Queue) grow() {
	if q.ring == nil {
		q.ring, q.head = smallRings.Get().(*smallRing)[:], 0
		if q.n == 1 {
			q.ring[0], q.one = q.one, Frame{}
		}
		return
	}
	ring := make([]Frame, 2*len(q.ring))
	for i := 0; i < q.n; i++ {
		ring[i] = q.ring[(q.head+i)&(len(q.ring)-1)]
	}
	releaseRing(q.ring)
	q.ring, q.head = ring, 0
}

// releaseRing clears ring and pools it if it is a small one; a bigger one
// is left to the collector. The bodies a ring references may be large and
// are shared with other connections, and the next queue to take the ring
// must find it empty.
func releaseRing(ring []Frame) {
	if len(ring) == smallRingLen {
		clear(ring)
		smallRings.Put((*smallRing)(ring))
	}
}

// PopAll appends every queued frame, oldest first, to dst and returns it.
// The queue forgets the frames (their bytes no longer count against the
// bound), so the caller owns them; pass a reused slice and clear it after
// writing so the bodies can be collected.
func (q *Queue) PopAll(dst []Frame) []Frame { return q.Pop(dst, 0) }

// Pop is PopAll for at most maxBytes of frames (at least one frame, however
// big; maxBytes <= 0 means no limit), so that a writer works through a long
// queue in bounded batches.
func (q *Queue) Pop(dst []Frame, maxBytes int) []Frame {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return dst
	}
	if q.ring == nil {
		dst = append(dst, q.one)
		q.one, q.n, q.bytes = Frame{}, 0, 0
		return dst
	}
	mask := len(q.ring) - 1
	taken, bytes := 0, 0
	for taken < q.n {
		j := (q.head + taken) & mask
		l := q.ring[j].Len()
		if maxBytes > 0 && taken > 0 && bytes+l > maxBytes {
			break
		}
		dst = append(dst, q.ring[j])
		q.ring[j] = Frame{}
		taken++
		bytes += l
	}
	q.head = (q.head + taken) & mask
	q.n -= taken
	q.bytes -= bytes
	if q.n > 0 {
		return dst
	}
	q.head, q.bytes = 0, 0
	switch {
	case len(q.ring) == smallRingLen:
		releaseRing(q.ring)
		q.ring = nil
	case len(q.ring) > shrinkAbove:
		// A burst must not pin a large ring to an idle connection; the
		// next Push starts again from a pooled small ring.
		q.ring = nil
	}
	return dst
}

// Len returns the number of queued frames.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Bytes returns the number of queued bytes.
func (q *Queue) Bytes() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// Close discards the queued frames (counting them as dropped), releases the
// ring and makes every later Push fail. It is idempotent.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.dropped.Add(uint64(q.n))
	releaseRing(q.ring)
	q.one, q.ring, q.head, q.n, q.bytes = Frame{}, nil, 0, 0, 0
}

// Closed reports whether Close was called.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// Dropped returns how many frames were refused by Push or discarded by Close.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Offer appends f only if it fits under the bound (or the queue is
// empty), as Push does, but a frame that does not fit is not counted as
// dropped: the caller keeps it and offers it again later. It reports
// whether f was queued and whether the queue is closed.
func (q *Queue) Offer(f Frame) (queued, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || (q.n > 0 && q.bytes+f.Len() > q.max) {
		return false, q.closed
	}
	q.pushLocked(f)
	return true, false
}
