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
// Push in steady state does not allocate.
type Queue struct {
	mu     sync.Mutex
	ring   []Frame // length is zero or a power of two
	head   int     // index of the oldest frame
	n      int     // frames queued
	bytes  int     // sum of their Len
	max    int
	closed bool
	// wake has room for one token: Push leaves one when it makes the queue
	// non-empty, so a writer blocked on Wait never misses work and a burst
	// of pushes costs one wake-up.
	wake chan struct{}

	dropped atomic.Uint64
}

// shrinkAbove is the ring length past which an emptied ring is released: a
// burst must not pin a large ring to an idle connection.
const shrinkAbove = 1024

// NewQueue returns an empty queue holding at most maxBytes bytes of frames
// (DefaultQueueBytes when maxBytes <= 0).
func NewQueue(maxBytes int) *Queue {
	if maxBytes <= 0 {
		maxBytes = DefaultQueueBytes
	}
	return &Queue{max: maxBytes, wake: make(chan struct{}, 1)}
}

// Push appends f and reports whether it was queued. It returns false, and
// counts the frame as dropped, when the queue is closed or when f would take
// the queued bytes past the bound. A frame larger than the whole bound is
// accepted into an empty queue, so that one big message can still be
// delivered to a client that keeps up.
func (q *Queue) Push(f Frame) bool {
	l := f.Len()
	q.mu.Lock()
	if q.closed || (q.n > 0 && q.bytes+l > q.max) {
		q.mu.Unlock()
		q.dropped.Add(1)
		return false
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)&(len(q.ring)-1)] = f
	q.n++
	q.bytes += l
	if q.n == 1 {
		// Under the lock: Close closes wake, and a send on a closed
		// channel panics. The send never blocks.
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	q.mu.Unlock()
	return true
}

// grow doubles the ring, keeping the frames in order from index 0.
func (q *Queue) grow() {
	size := 2 * len(q.ring)
	if size == 0 {
		size = 8
	}
	ring := make([]Frame, size)
	for i := 0; i < q.n; i++ {
		ring[i] = q.ring[(q.head+i)&(len(q.ring)-1)]
	}
	q.ring, q.head = ring, 0
}

// Wait returns a channel that receives a value after a Push made the queue
// non-empty, and is closed by Close. A token may be stale (the frames were
// already popped), so a writer must treat an empty PopAll as "nothing yet".
func (q *Queue) Wait() <-chan struct{} { return q.wake }

// PopAll appends every queued frame, oldest first, to dst and returns it.
// The queue forgets the frames (their bytes no longer count against the
// bound), so the caller owns them; pass a reused slice and clear it after
// writing so the bodies can be collected.
func (q *Queue) PopAll(dst []Frame) []Frame {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return dst
	}
	mask := len(q.ring) - 1
	for i := 0; i < q.n; i++ {
		j := (q.head + i) & mask
		dst = append(dst, q.ring[j])
		q.ring[j] = Frame{}
	}
	q.head, q.n, q.bytes = 0, 0, 0
	if len(q.ring) > shrinkAbove {
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

// Close discards the queued frames (counting them as dropped), makes every
// later Push fail and closes the Wait channel. It is idempotent.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.dropped.Add(uint64(q.n))
	q.ring, q.head, q.n, q.bytes = nil, 0, 0, 0
	close(q.wake)
}

// Closed reports whether Close was called.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// Dropped returns how many frames were refused by Push or discarded by Close.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }
