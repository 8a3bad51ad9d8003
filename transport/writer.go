package transport

import (
	"context"
	"sync"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/broadcast"
)

// A connection's writer exists only while its queue has frames: the first
// Push into an empty queue starts it, it drains the queue batch by batch,
// and it returns when the queue is empty. An idle connection therefore
// holds no writer goroutine, no batch slice and no cork buffer.

// assembleMax is the largest message copied into one buffer and written as
// a single frame. Larger ones are streamed as Head, Body and Tail frames of
// one message, so a multi-megabyte body is not copied.
const assembleMax = 32 << 10

// writerScratch is what a running writer borrows from the pools.
type writerScratch struct {
	frames []broadcast.Frame
	msg    []byte
}

var scratchPool = sync.Pool{New: func() any { return new(writerScratch) }}

// startWriter starts the writer unless one is running.
func (c *conn) startWriter() {
	if !c.writing.CompareAndSwap(false, true) {
		return
	}
	if !c.enter() {
		return // torn down: nothing will be written any more
	}
	go c.writeLoop()
}

func (c *conn) writeLoop() {
	defer c.wg.Done()
	sc := scratchPool.Get().(*writerScratch)
	defer func() {
		clear(sc.frames) // bodies are shared and may be large: do not pin them
		sc.frames = sc.frames[:0]
		if cap(sc.msg) > assembleMax {
			sc.msg = nil
		}
		scratchPool.Put(sc)
	}()
	for {
		sc.frames = c.q.PopAll(sc.frames[:0])
		if len(sc.frames) == 0 {
			// Hand the role back, then look again: a Push that saw
			// writing==true just before the Store would otherwise be
			// stranded in the queue.
			c.writing.Store(false)
			if c.q.Len() == 0 || !c.writing.CompareAndSwap(false, true) {
				return
			}
			continue
		}
		if err := c.writeBatch(sc); err != nil {
			// writing stays true so that no other writer starts.
			if c.closing.Load() {
				// The close frame is out (writes after it fail); the
				// closer finishes the handshake.
				return
			}
			// The socket is broken (write timeout, reset): drop it; the
			// read loop notices and tears down.
			c.s.stats.deadLinks.Add(1)
			c.s.log.Debug("write failed; dropping connection", "conn", c.id, "error", err)
			c.drop()
			return
		}
		clear(sc.frames)
	}
}

// writeBatch writes each frame as its own WebSocket message; the socket sees
// one write per batch (see sockWriter).
func (c *conn) writeBatch(sc *writerScratch) error {
	c.sw.cork()
	for _, f := range sc.frames {
		if err := c.writeFrame(sc, f); err != nil {
			c.sw.uncork()
			return err
		}
	}
	return c.sw.uncork()
}

func (c *conn) writeFrame(sc *writerScratch, f broadcast.Frame) error {
	typ := websocket.MessageText
	if f.Binary {
		typ = websocket.MessageBinary
	}
	// Background: the write deadline is sockWriter's (a context here would
	// cost a timer per message).
	ctx := context.Background()
	switch {
	case len(f.Head) == 0 && len(f.Tail) == 0:
		return c.ws.Write(ctx, typ, f.Body)
	case f.Len() <= assembleMax:
		// One copy is cheaper than three more frame headers, and a
		// single-frame message is what every client handles best.
		sc.msg = append(append(append(sc.msg[:0], f.Head...), f.Body...), f.Tail...)
		return c.ws.Write(ctx, typ, sc.msg)
	}
	return c.writeStreamed(ctx, typ, f)
}

// writeStreamed writes f as one message of up to four frames (Head, Body,
// Tail, and the empty final frame coder/websocket's Writer ends with).
func (c *conn) writeStreamed(ctx context.Context, typ websocket.MessageType, f broadcast.Frame) error {
	w, err := c.ws.Writer(ctx, typ)
	if err != nil {
		return err
	}
	for _, p := range [3][]byte{f.Head, f.Body, f.Tail} {
		if len(p) == 0 {
			continue
		}
		if _, err := w.Write(p); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}
