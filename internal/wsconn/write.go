package wsconn

import (
	"slices"
	"sync"
	"time"

	"github.com/walcast/walcast/broadcast"
)

// Writing. Everything a connection sends, data and control frames alike,
// is written by whoever holds its writer role (Conn.writing): the first
// Send (or control frame) into an idle connection takes the role and puts
// the connection in the host's flushPool line. The flusher frames every
// queued message straight into one buffer (server frames are not masked
// and compression is off, so the framing is a few bytes) and writes it
// with one non-blocking syscall. A message over assembleMax is not copied:
// its frame header goes into the buffer and its body is sent from where it
// lies, in the same non-blocking vectored send (gather). Only when the
// socket cannot take it all, or raw I/O is off, does the connection get a
// goroutine of its own that blocks with a write deadline (writeBlocking),
// and it starts exactly where the flusher's send stopped (unsent). An idle
// connection holds no goroutine, no buffer and no slice for writing.
//
// Control frames wait in a slot (Conn.ctl) that the role's holder empties
// before it takes the next batch of data: pong and ping go out between two
// whole data frames, ahead of queued data; the close frame goes out next
// and nothing after it, since Close discards the queue.

// assembleMax is the largest message copied into a writer's buffer. Larger
// ones are sent from their own bytes, next to their frame header in the
// buffer, with a vectored send (writev).
const assembleMax = 32 << 10

// partMax is the largest part (Head, Body, Tail) of a message over
// assembleMax that is copied next to its frame header anyway: an envelope's
// few bytes cost less to copy than an iovec of their own.
const partMax = 1 << 10

// batchBytes bounds what one write takes from a queue: a connection with a
// long backlog is written in batches of this size, each followed by the
// other connections in line, and a flusher's buffer stays small.
const batchBytes = 256 << 10

// writerScratch is what a flusher or a blocking writer reuses.
type writerScratch struct {
	frames []broadcast.Frame
	buf    []byte
	// segs is a vectored send's buffers (gather): runs of buf at even
	// indexes, parts of big messages at odd ones.
	segs [][]byte
	// What this writer popped since it last published, counted here and
	// added to the host's counters once per batch of connections, so
	// that the flushers do not share a cache line per write.
	sent, sentBytes uint64
}

// count notes frames taken from a queue for writing.
func (sc *writerScratch) count(frames []broadcast.Frame) {
	sc.sent += uint64(len(frames))
	for _, f := range frames {
		sc.sentBytes += uint64(f.Len())
	}
}

// publish adds what was counted to the host's counters.
func (sc *writerScratch) publish(st *counters) {
	if sc.sent > 0 {
		st.messagesOut.Add(sc.sent)
		st.bytesOut.Add(sc.sentBytes)
		sc.sent, sc.sentBytes = 0, 0
	}
}

// reset drops references to frame bodies (shared, possibly large) and a
// buffer that grew past the usual size.
func (sc *writerScratch) reset() {
	clear(sc.frames)
	sc.frames = sc.frames[:0]
	sc.dropSegs()
	if cap(sc.buf) > 256<<10 {
		sc.buf = nil
	}
}

// dropSegs forgets the vectored send's buffers.
func (sc *writerScratch) dropSegs() {
	clear(sc.segs)
	sc.segs = sc.segs[:0]
}

// gather lays sc.frames out for one vectored send after the framed bytes
// sc.buf already holds (control frames), and returns the bytes to send.
// Small messages, every frame header and the small parts of big messages
// are copied into sc.buf; the big parts stay where they are (shared bytes
// that nobody writes to). sc.segs then alternates runs of sc.buf (even
// indexes, possibly empty) and big parts (odd indexes), which is how
// unsent tells what it must copy. sc.buf is grown first, to the most the
// appends can take, so that the runs taken from it on the way stay valid.
func (c *Conn) gather(sc *writerScratch, frames []broadcast.Frame) int {
	need := 0
	for _, f := range frames {
		need += maxFrameHeader
		if f.Len() <= assembleMax {
			need += f.Len()
			continue
		}
		for _, p := range [...][]byte{f.Head, f.Body, f.Tail} {
			if len(p) <= partMax {
				need += len(p)
			}
		}
	}
	sc.buf = slices.Grow(sc.buf, need)
	sc.dropSegs()
	run, total := 0, 0
	for i, f := range frames {
		if f.Len() <= assembleMax {
			sc.buf = c.appendOut(sc.buf, frames[i:i+1])
			continue
		}
		if c.raw == nil {
			sc.buf = appendFrameHeader(sc.buf, f.Binary, f.Len())
		}
		for _, p := range [...][]byte{f.Head, f.Body, f.Tail} {
			if len(p) <= partMax {
				sc.buf = append(sc.buf, p...)
				continue
			}
			sc.segs = append(sc.segs, sc.buf[run:len(sc.buf):len(sc.buf)], p)
			run = len(sc.buf)
			total += len(p)
		}
	}
	sc.segs = append(sc.segs, sc.buf[run:len(sc.buf):len(sc.buf)])
	return total + len(sc.buf)
}

// unsent returns what of sc.segs (laid out by gather) follows its first n
// bytes, for the writer goroutine that takes over: the rest of a frame cut
// short, then the frames after it. The runs of sc.buf are copied (the
// flusher reuses it), into one allocation; the big parts are not.
func (sc *writerScratch) unsent(n int) [][]byte {
	i := 0
	for i < len(sc.segs) && n >= len(sc.segs[i]) {
		n -= len(sc.segs[i])
		i++
	}
	copied := 0
	for j := i; j < len(sc.segs); j++ {
		if j%2 == 0 {
			copied += len(sc.segs[j])
		}
	}
	own := make([]byte, 0, copied) // never grown: the runs below stay valid
	rest := make([][]byte, 0, len(sc.segs)-i)
	for j := i; j < len(sc.segs); j++ {
		p := sc.segs[j]
		if j == i {
			p = p[n:]
		}
		if len(p) == 0 {
			continue
		}
		if j%2 == 0 {
			start := len(own)
			own = append(own, p...)
			p = own[start:len(own):len(own)]
		}
		rest = append(rest, p)
	}
	return rest
}

var scratchPool = sync.Pool{New: func() any { return new(writerScratch) }}

// control holds the control frames waiting for the writer role. Under
// Conn.ctlMu.
type control struct {
	pong      bool
	ping      bool
	close     bool
	pongData  []byte // the payload of the latest ping (§5.5.3: only the latest needs its pong)
	closeData []byte
	final     []byte // a raw stream's last payload, when not RawConfig.Final
}

// queueControl puts a control frame in the slot and makes sure a writer
// runs. Nothing is queued once the close frame is.
func (c *Conn) queueControl(op byte, payload []byte) {
	c.ctlMu.Lock()
	if c.ctl.close {
		c.ctlMu.Unlock()
		return
	}
	switch op {
	case opPong:
		c.ctl.pong = true
		c.ctl.pongData = append(c.ctl.pongData[:0], payload...)
	case opPing:
		c.ctl.ping = true
	}
	c.ctlMu.Unlock()
	c.ctlPending.Store(true)
	c.startWriter()
}

// takeControl appends the waiting control frames to b and reports whether
// the close frame is among them (then nothing may follow). Writer role only.
func (c *Conn) takeControl(b []byte) ([]byte, bool) {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	c.ctlPending.Store(false)
	if c.ctl.pong {
		b = appendControl(b, opPong, c.ctl.pongData)
		c.ctl.pong, c.ctl.pongData = false, nil
	}
	if c.ctl.ping {
		if c.raw != nil {
			b = append(b, c.raw.Heartbeat...)
		} else {
			b = appendControl(b, opPing, nil)
		}
		c.ctl.ping = false
	}
	if !c.ctl.close {
		return b, false
	}
	if c.raw != nil {
		if c.ctl.final != nil {
			return append(b, c.ctl.final...), true
		}
		return append(b, c.raw.Final...), true
	}
	return appendControl(b, opClose, c.ctl.closeData), true
}

// startWriter makes sure queued frames get written: it takes the writer
// role unless someone holds it, and puts the connection in line.
func (c *Conn) startWriter() {
	if c.writing.CompareAndSwap(false, true) {
		c.host.flushers.schedule(c)
	}
}

// releaseWriter gives the writer role up, or keeps it and gets back in line
// when frames arrived meanwhile.
func (c *Conn) releaseWriter() {
	// Hand the role back, then look again: a Send that saw writing==true
	// just before the Store would otherwise be stranded in the queue.
	c.writing.Store(false)
	if (c.q.Len() == 0 && !c.ctlPending.Load()) || !c.writing.CompareAndSwap(false, true) {
		return
	}
	c.host.flushers.schedule(c)
}

// flush runs on a flusher: it writes what c holds without blocking.
func (c *Conn) flush(sc *writerScratch, now time.Time) {
	sc.buf = sc.buf[:0]
	closing := false
	if c.ctlPending.Load() {
		sc.buf, closing = c.takeControl(sc.buf)
	}
	if !closing {
		sc.frames = c.q.Pop(sc.frames[:0], batchBytes)
		sc.count(sc.frames)
	}
	if len(sc.frames) == 0 && len(sc.buf) == 0 {
		c.releaseWriter()
		return
	}
	if c.sock.rc == nil {
		// No raw I/O: every write blocks, not the flusher's to wait for.
		var pre [][]byte
		if len(sc.buf) > 0 {
			pre = [][]byte{slices.Clone(sc.buf)}
		}
		c.handOff(pre, slices.Clone(sc.frames), closing)
		clear(sc.frames)
		return
	}
	big := false
	for _, f := range sc.frames {
		big = big || f.Len() > assembleMax
	}
	c.lastWrite = now
	if big {
		// Big messages are sent from their own bytes, not copied.
		sent := c.sendBig(sc, now)
		clear(sc.frames)
		if !sent {
			return
		}
	} else {
		sc.buf = c.appendOut(sc.buf, sc.frames)
		clear(sc.frames)
		n, err := c.sock.trySend(sc.buf)
		if err != nil {
			c.writeFailed(err, closing)
			return
		}
		c.wrote(now)
		if n < len(sc.buf) {
			// The socket is full. The rest must follow before any other
			// frame: the new writer takes the role over with it.
			c.handOff([][]byte{slices.Clone(sc.buf[n:])}, nil, closing)
			return
		}
	}
	if closing {
		c.finalWritten()
		return
	}
	if c.q.Bytes() >= batchBytes {
		// A backlog: the next batch goes out as soon as the line comes
		// round again, not after the coalescing interval.
		c.backlog = true
		c.host.flushers.schedule(c)
		return
	}
	if c.q.Len() > 0 || c.ctlPending.Load() {
		c.host.flushers.schedule(c) // more came meanwhile: back of the line
		return
	}
	c.releaseWriter()
}

// vecBytes bounds the messages one vectored send takes (at least one
// message): a batch of big messages goes out in a few sends rather than one
// of up to batchBytes. One send of several big messages to a socket was
// measured to halve the fan-out rate of 64 KB messages to 100 loopback
// clients (transport's BenchmarkFanOut), one message a send was not.
const vecBytes = 64 << 10

// sendBig sends sc.frames (after the framed bytes in sc.buf), some over
// assembleMax, in vectored sends of up to vecBytes of messages. It reports
// false when it did not send everything: the socket was full, and the rest
// (from the byte where the send stopped, then the frames not yet sent) is
// handed to a writer goroutine, or the write failed. Not for a close.
func (c *Conn) sendBig(sc *writerScratch, now time.Time) bool {
	frames := sc.frames
	for start := 0; start < len(frames); {
		end, size := start+1, frames[start].Len()
		for end < len(frames) && size+frames[end].Len() <= vecBytes {
			size += frames[end].Len()
			end++
		}
		total := c.gather(sc, frames[start:end])
		n, err := c.sock.trySendv(sc.segs)
		if err != nil {
			sc.dropSegs()
			c.writeFailed(err, false)
			return false
		}
		c.wrote(now)
		if n < total {
			rest := sc.unsent(n)
			sc.dropSegs()
			c.handOff(rest, slices.Clone(frames[end:]), false)
			return false
		}
		sc.dropSegs()
		sc.buf = sc.buf[:0]
		start = end
	}
	return true
}

// handOff passes the writer role to a goroutine of c's own, which writes
// pre (bytes on the wire in order: framed bytes, or the rest of a send
// that stopped short) and then frames, and after them, unless closing,
// whatever is queued. The caller gives pre and frames up.
func (c *Conn) handOff(pre [][]byte, frames []broadcast.Frame, closing bool) {
	if !c.enter() {
		// Torn down: nothing is written any more; the role stays taken.
		c.closeWritten(errTornDown)
		return
	}
	c.host.stats.writerHandOffs.Add(1)
	go c.writeBlocking(pre, frames, closing)
}

// writeFailed ends the writer role after a failed write. The role is not
// given back, so that no other writer starts on a connection that is over.
func (c *Conn) writeFailed(err error, closing bool) {
	if closing || c.closeStarted() {
		// A close was under way: the peer would not have read the close
		// frame; the close handshake ends here (closeWritten wakes
		// whoever waits for it) and the read loop or the timer tears
		// down.
		c.closeWritten(err)
		c.drop()
		return
	}
	// The socket is broken (write timeout, reset): drop it; the read loop
	// notices and tears down.
	c.host.stats.deadLinks.Add(1)
	c.host.log.Debug("write failed; dropping connection", "conn", c.id, "error", err)
	c.drop()
}

// writeBlocking is the writer of a connection whose socket is full, or
// that has no raw I/O: blocking writes with a deadline, until nothing is
// left to write. It was counted in c.wg by handOff.
func (c *Conn) writeBlocking(pre [][]byte, frames []broadcast.Frame, closing bool) {
	defer c.wg.Done()
	sc := scratchPool.Get().(*writerScratch)
	defer func() {
		sc.reset()
		scratchPool.Put(sc)
	}()
	sc.segs = append(sc.segs[:0], pre...)
	sc.frames = append(sc.frames[:0], frames...)
	clear(pre)
	clear(frames)
	for {
		if len(sc.segs) == 0 && len(sc.frames) == 0 && len(sc.buf) == 0 {
			if c.ctlPending.Load() {
				sc.buf, closing = c.takeControl(sc.buf)
			}
			if !closing {
				sc.frames = c.q.Pop(sc.frames[:0], batchBytes)
				sc.count(sc.frames)
				sc.publish(&c.host.stats)
			}
		}
		if len(sc.segs) == 0 && len(sc.frames) == 0 && len(sc.buf) == 0 {
			c.releaseWriter()
			return
		}
		err := c.writeFramesBlocking(sc)
		clear(sc.frames)
		sc.frames, sc.buf = sc.frames[:0], sc.buf[:0]
		if err != nil {
			c.writeFailed(err, closing)
			return
		}
		c.wrote(time.Now())
		if closing {
			c.finalWritten()
			return
		}
	}
}

// writeFramesBlocking writes sc.segs (the bytes handed over), sc.buf
// (framed bytes), then sc.frames: small ones gathered into one buffer, big
// ones with writev from their own bytes.
func (c *Conn) writeFramesBlocking(sc *writerScratch) error {
	if len(sc.segs) > 0 {
		err := c.sock.writev(sc.segs)
		sc.dropSegs()
		if err != nil {
			return err
		}
	}
	for i, f := range sc.frames {
		if f.Len() <= assembleMax {
			sc.buf = c.appendOut(sc.buf, sc.frames[i:i+1])
			continue
		}
		var head [maxFrameHeader]byte
		var hdr []byte
		if c.raw == nil {
			hdr = appendFrameHeader(head[:0], f.Binary, f.Len())
		}
		bufs := [...][]byte{sc.buf, hdr, f.Head, f.Body, f.Tail}
		if err := c.sock.writev(bufs[:]); err != nil {
			return err
		}
		sc.buf = sc.buf[:0]
	}
	if len(sc.buf) == 0 {
		return nil
	}
	return c.sock.write(sc.buf)
}
