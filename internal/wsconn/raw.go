package wsconn

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/walcast/walcast/broadcast"
)

// Raw streams. A Conn adopted with AdoptRaw carries a one-way stream
// whose protocol framing is the caller's (an HTTP response after its head,
// Server-Sent Events say) on the same machinery as a WebSocket: one writer
// role, the flush pool, the queue bound, parking while idle. What differs:
//
//   - queued frames are written as they are (Head, Body, Tail), without a
//     WebSocket header;
//   - nothing is expected from the peer: whatever it sends, or its hanging
//     up, ends the stream (the bytes are not parsed);
//   - the timer writes RawConfig.Heartbeat after HeartbeatEvery without a
//     write, instead of a ping, and never closes for idleness;
//   - Close (and a queue overflow) discards what is queued, writes
//     RawConfig.Final and closes the socket, without waiting for the peer.

// RawConfig configures a raw stream.
type RawConfig struct {
	// Heartbeat is written after HeartbeatEvery without a write (nothing
	// when empty or HeartbeatEvery is not positive).
	Heartbeat      []byte
	HeartbeatEvery time.Duration
	// Final is written when the stream is closed, before the socket is.
	Final []byte
	// QueueBytes bounds the outbound queue (0: Options.QueueBytes).
	QueueBytes int
}

// rawStream is what a raw Conn keeps besides a WebSocket's state.
type rawStream struct {
	RawConfig
	lastOut atomic.Int64 // unix nanoseconds of the last write, or of the last heartbeat queued
}

// ErrPeerSent ends a raw stream whose peer sent bytes.
var ErrPeerSent = errors.New("the peer sent data on a one-way stream")

// AdoptRaw readies c, a zero Conn that must not move afterwards, as a raw
// stream on nc, a connection taken over from net/http (Hijack) whose
// response head the caller has written or queues first. pending are bytes
// the client sent past its request (net/http's buffered reader): any ends
// the stream once it starts. The caller then calls c.Start.
func (h *Host) AdoptRaw(nc net.Conn, pending []byte, c *Conn, handler Handler, cfg RawConfig) error {
	// net/http may have left deadlines (ReadTimeout, WriteTimeout).
	if err := nc.SetDeadline(time.Time{}); err != nil {
		nc.Close()
		return fmt.Errorf("adopting a stream: %w", err)
	}
	qb := cfg.QueueBytes
	if qb <= 0 {
		qb = h.opts.QueueBytes
	}
	c.raw = &rawStream{RawConfig: cfg}
	c.raw.lastOut.Store(time.Now().UnixNano())
	c.init(h, nc, pending, handler, qb)
	return nil
}

// CloseWith closes a raw stream as Close does, but writes final instead of
// RawConfig.Final: a last message and the end of the stream, say. On a
// WebSocket it is Close.
func (c *Conn) CloseWith(code StatusCode, reason string, final []byte) bool {
	if c.raw == nil {
		final = nil
	}
	return c.startClose(&CloseError{Code: code, Reason: reason}, final)
}

// Offer queues f if the queue has room for it, as Send does, but when it
// has not it leaves the connection open and reports false: the caller
// keeps f and offers it again once QueuedBytes has gone down (a replay
// that must not overflow the queue). closed reports that the connection
// takes nothing any more.
func (c *Conn) Offer(f broadcast.Frame) (queued, closed bool) {
	queued, closed = c.q.Offer(f)
	if queued {
		c.startWriter()
	}
	return queued, closed || c.closing.Load()
}

// appendOut appends the frames as they go on the wire.
func (c *Conn) appendOut(b []byte, frames []broadcast.Frame) []byte {
	if c.raw == nil {
		return appendFrames(b, frames)
	}
	for _, f := range frames {
		b = append(append(append(b, f.Head...), f.Body...), f.Tail...)
	}
	return b
}

// wrote notes a write, for the heartbeat of a raw stream.
func (c *Conn) wrote(now time.Time) {
	if c.raw != nil {
		c.raw.lastOut.Store(now.UnixNano())
	}
}

// finalWritten ends the writing after the close frame or final payload went
// out. A raw stream expects no answer: its socket is closed at once, and
// the read that fails tears it down.
func (c *Conn) finalWritten() {
	c.closeWritten(nil)
	if c.raw != nil {
		c.drop()
	}
}

// rawNextTick is nextTick for a raw stream: the heartbeat, or the end of
// a close that did not finish. c.mu must be held.
func (c *Conn) rawNextTick(now time.Time) time.Duration {
	r := c.raw
	at := now.Add(time.Hour)
	switch {
	case c.closing.Load() && !c.closeBy.IsZero():
		at = c.closeBy
	case r.HeartbeatEvery > 0 && len(r.Heartbeat) > 0:
		at = time.Unix(0, r.lastOut.Load()).Add(r.HeartbeatEvery)
	}
	return max(at.Sub(now), time.Millisecond)
}

// rawTick is tick for a raw stream: it queues the heartbeat after
// HeartbeatEvery without a write, and drops a stream whose final payload
// could not be written within WriteTimeout.
func (c *Conn) rawTick() {
	now := time.Now()
	r := c.raw
	if c.closing.Load() {
		c.mu.Lock()
		closeBy := c.closeBy
		c.mu.Unlock()
		if !closeBy.IsZero() && !now.Before(closeBy) {
			c.drop()
			return
		}
	} else if r.HeartbeatEvery > 0 && len(r.Heartbeat) > 0 &&
		now.Sub(time.Unix(0, r.lastOut.Load())) >= r.HeartbeatEvery {
		r.lastOut.Store(now.UnixNano()) // the next one is due HeartbeatEvery from now
		c.queueControl(opPing, nil)
	}
	c.mu.Lock()
	if !c.done {
		c.timer.Reset(c.nextTick(time.Now()))
	}
	c.mu.Unlock()
}
