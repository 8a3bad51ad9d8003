package transport

import (
	"slices"
	"sync"
	"time"

	"github.com/walcast/walcast/broadcast"
)

// Writing. A connection's queued frames are written by whoever holds its
// writer role (conn.writing): the first send into an idle connection takes
// the role and puts the connection in the server's flushPool line. The
// flusher encodes every queued frame straight into one buffer (WebSocket
// header, Head, Body, Tail: server frames are not masked and compression is
// off, so the framing is a few bytes) and writes it with one non-blocking
// syscall. Only when the socket cannot take it all, or a message is too big
// to copy, does the connection get a goroutine of its own that blocks with
// a write deadline (writeBlocking). An idle connection holds no goroutine,
// no buffer and no slice for writing.
//
// coder/websocket still writes the control frames (pong, ping, close)
// through the same sockWriter, whose lock keeps every frame whole.

// assembleMax is the largest message copied into a flusher's buffer. Larger
// ones are written by writeBlocking with writev, without a copy.
const assembleMax = 32 << 10

// batchBytes bounds what one write takes from a queue: a connection with a
// long backlog is written in batches of this size, each followed by the
// other connections in line, and a flusher's buffer stays small.
const batchBytes = 256 << 10

// writerScratch is what a flusher or a blocking writer reuses.
type writerScratch struct {
	frames []broadcast.Frame
	buf    []byte
}

// reset drops references to frame bodies (shared, possibly large) and a
// buffer that grew past the usual size.
func (sc *writerScratch) reset() {
	clear(sc.frames)
	sc.frames = sc.frames[:0]
	if cap(sc.buf) > 256<<10 {
		sc.buf = nil
	}
}

var scratchPool = sync.Pool{New: func() any { return new(writerScratch) }}

// startWriter makes sure queued frames get written: it takes the writer
// role unless someone holds it, and puts the connection in line.
func (c *conn) startWriter() {
	if !c.writing.CompareAndSwap(false, true) {
		return
	}
	if !c.enter() {
		return // torn down: nothing will be written any more
	}
	c.s.flushers.schedule(c)
}

// releaseWriter gives the writer role up, or keeps it and gets back in line
// when frames arrived meanwhile. It ends the count of c.wg taken by
// startWriter when the role is given up.
func (c *conn) releaseWriter() {
	// Hand the role back, then look again: a send that saw writing==true
	// just before the Store would otherwise be stranded in the queue.
	c.writing.Store(false)
	if c.q.Len() == 0 || !c.writing.CompareAndSwap(false, true) {
		c.wg.Done()
		return
	}
	c.s.flushers.schedule(c)
}

// flush runs on a flusher: it writes what c's queue holds without blocking.
func (c *conn) flush(sc *writerScratch, now time.Time) {
	sc.frames = c.q.Pop(sc.frames[:0], batchBytes)
	if len(sc.frames) == 0 {
		c.releaseWriter()
		return
	}
	big := false
	for _, f := range sc.frames {
		big = big || f.Len() > assembleMax
	}
	if big || !c.sw.mu.TryLock() {
		// A big message, or coder/websocket is writing a control frame:
		// not the flusher's to wait for.
		c.handOff(nil, slices.Clone(sc.frames))
		clear(sc.frames)
		return
	}
	sc.buf = appendFrames(sc.buf[:0], sc.frames)
	clear(sc.frames)
	c.lastWrite = now
	n, err := c.sw.tryLocked(sc.buf)
	if err != nil {
		c.sw.mu.Unlock()
		c.writeFailed(err)
		return
	}
	if n < len(sc.buf) {
		// The socket is full. The rest must follow before any other
		// frame, so the new writer takes the lock over with it.
		c.handOff(slices.Clone(sc.buf[n:]), nil)
		return
	}
	c.sw.mu.Unlock()
	if c.q.Bytes() >= batchBytes {
		// A backlog: the next batch goes out as soon as the line comes
		// round again, not after the coalescing interval.
		c.backlog = true
		c.s.flushers.schedule(c)
		return
	}
	if c.q.Len() > 0 {
		c.s.flushers.schedule(c) // more came meanwhile: back of the line
		return
	}
	c.releaseWriter()
}

// handOff passes the writer role to a goroutine of c's own. With rest, the
// caller holds c.sw.mu, which the new goroutine inherits and releases once
// rest is written.
func (c *conn) handOff(rest []byte, frames []broadcast.Frame) {
	go c.writeBlocking(rest, frames)
}

// writeFailed ends the writer role after a failed write. The role is not
// given back, so that no other writer starts on a connection that is over.
func (c *conn) writeFailed(err error) {
	defer c.wg.Done()
	if c.closing.Load() || c.sw.closed() {
		// The close frame is out (nothing may follow it); the closer
		// finishes the handshake.
		return
	}
	// The socket is broken (write timeout, reset): drop it; the read loop
	// notices and tears down.
	c.s.stats.deadLinks.Add(1)
	c.s.log.Debug("write failed; dropping connection", "conn", c.id, "error", err)
	c.drop()
}

// writeBlocking is the writer of a connection whose socket is full or that
// has a big message: blocking writes with a deadline, until the queue is
// empty. With rest, it was handed c.sw.mu locked.
func (c *conn) writeBlocking(rest []byte, frames []broadcast.Frame) {
	if rest != nil {
		_, err := c.sw.blockLocked(rest)
		c.sw.mu.Unlock()
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
	sc := scratchPool.Get().(*writerScratch)
	defer func() {
		sc.reset()
		scratchPool.Put(sc)
	}()
	sc.frames = append(sc.frames[:0], frames...)
	clear(frames)
	for {
		if len(sc.frames) == 0 {
			sc.frames = c.q.Pop(sc.frames[:0], batchBytes)
		}
		if len(sc.frames) == 0 {
			c.releaseWriter()
			return
		}
		err := c.writeFramesBlocking(sc)
		clear(sc.frames)
		sc.frames = sc.frames[:0]
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
}

// writeFramesBlocking writes sc.frames: small ones gathered into one
// buffer, big ones with writev from their own bytes.
func (c *conn) writeFramesBlocking(sc *writerScratch) error {
	c.sw.mu.Lock()
	defer c.sw.mu.Unlock()
	sc.buf = sc.buf[:0]
	for _, f := range sc.frames {
		if f.Len() <= assembleMax {
			sc.buf = appendFrame(sc.buf, f)
			continue
		}
		var head [maxFrameHeader]byte
		hdr := appendFrameHeader(head[:0], f.Binary, f.Len())
		bufs := [...][]byte{sc.buf, hdr, f.Head, f.Body, f.Tail}
		if err := c.sw.blockBuffersLocked(bufs[:]); err != nil {
			return err
		}
		sc.buf = sc.buf[:0]
	}
	if len(sc.buf) == 0 {
		return nil
	}
	_, err := c.sw.writeLocked(sc.buf)
	return err
}

// maxFrameHeader is the longest header of an unmasked frame.
const maxFrameHeader = 10

// appendFrames appends every frame, each a whole WebSocket message.
func appendFrames(b []byte, frames []broadcast.Frame) []byte {
	for _, f := range frames {
		b = appendFrame(b, f)
	}
	return b
}

func appendFrame(b []byte, f broadcast.Frame) []byte {
	b = appendFrameHeader(b, f.Binary, f.Len())
	return append(append(append(b, f.Head...), f.Body...), f.Tail...)
}

// appendFrameHeader appends the header of a final, unmasked, uncompressed
// text or binary frame of n payload bytes (RFC 6455 §5.2).
func appendFrameHeader(b []byte, bin bool, n int) []byte {
	op := byte(0x81) // FIN + text
	if bin {
		op = 0x82 // FIN + binary
	}
	switch {
	case n <= 125:
		return append(b, op, byte(n))
	case n <= 0xFFFF:
		return append(b, op, 126, byte(n>>8), byte(n))
	}
	u := uint64(n)
	return append(b, op, 127, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}
