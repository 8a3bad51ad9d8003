package wsconn

import "github.com/walcast/walcast/broadcast"

// Parked reports whether the connection's read loop is parked: the
// connection holds no goroutine until its socket is readable.
func (c *Conn) Parked() bool { return c.parked.Load() }

// HoldWrites takes the writer role, so that nothing is written until
// release is called: a test of what queues frames measures the enqueue
// alone. It reports false when a writer is busy.
func (c *Conn) HoldWrites() (release func(), ok bool) {
	if !c.writing.CompareAndSwap(false, true) {
		return nil, false
	}
	return c.releaseWriter, true
}

// TakeQueued appends the queued frames to dst and forgets them, for a
// test that holds the writes.
func (c *Conn) TakeQueued(dst []broadcast.Frame) []broadcast.Frame { return c.q.PopAll(dst) }
