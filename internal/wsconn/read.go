package wsconn

import (
	"sync"
	"time"
	"unicode/utf8"
)

// Reading. The read loop reads into a small pooled buffer and parses
// frames in place: a whole unfragmented message is unmasked where it lies
// and handed to the handler without a copy. The buffer grows only while a
// frame needs more room and is given back (or dropped, if it grew) as soon
// as everything read has been parsed, so a parked connection holds none.

// readBufSize is the size of a pooled read buffer: room for the messages
// clients usually send (heartbeats, joins, small broadcasts) in one read.
const readBufSize = 4 << 10

type readArray [readBufSize]byte

// readBufs holds the read buffers of connections that are not reading.
// Pointers to arrays, so that Get and Put allocate nothing.
var readBufs = sync.Pool{New: func() any { return new(readArray) }}

// reader is the read loop's state.
type reader struct {
	buf  []byte // nil while nothing is buffered
	r, w int    // buf[r:w] is read and not yet parsed
	need int    // bytes from r the next frame needs, as far as known

	msgOp byte   // opText or opBinary while a fragmented message arrives
	msg   []byte // its fragments so far
}

func (rd *reader) empty() bool { return rd.r == rd.w }

// release gives the buffer back once nothing is left in it.
func (rd *reader) release() {
	if rd.buf != nil && rd.r == rd.w {
		if len(rd.buf) == readBufSize {
			readBufs.Put((*readArray)(rd.buf))
		}
		rd.buf, rd.r, rd.w, rd.need = nil, 0, 0, 0
	}
}

// room makes sure buf has space past w. A buffer full of one unfinished
// frame grows, doubling up to the size the frame needs: memory follows
// the bytes that arrived, never a length a client merely announced.
func (rd *reader) room() {
	switch {
	case rd.buf == nil:
		rd.buf = readBufs.Get().(*readArray)[:]
		return
	case rd.w < len(rd.buf):
		return
	case rd.r > 0:
		// Room enough once the parsed bytes are dropped.
		rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r = 0
		return
	}
	size := 2 * len(rd.buf)
	if rd.need > rd.w {
		size = min(size, rd.need)
	}
	buf := make([]byte, size)
	rd.w = copy(buf, rd.buf[:rd.w])
	if len(rd.buf) == readBufSize {
		readBufs.Put((*readArray)(rd.buf))
	}
	rd.buf = buf
}

// fill reads once from the socket.
func (c *Conn) fill() error {
	rd := &c.rd
	rd.room()
	n, err := c.sock.read(rd.buf[rd.w:])
	rd.w += n
	if n > 0 {
		return nil
	}
	return err
}

// run starts reading: it handles what came with the upgrade request, then
// reads.
func (c *Conn) run() {
	if c.handleBuffered() {
		return
	}
	if c.rd.empty() && c.park() {
		return
	}
	c.readLoop()
}

// readLoop reads and handles frames until nothing is left to read, then
// parks the connection (park.go); when the socket ends it tears the
// connection down. It starts with a read: it runs because the socket is
// readable, or because someone needs a read to end. Reads have no
// deadline: timeouts are the timer's (tick).
func (c *Conn) readLoop() {
	for {
		if err := c.fill(); err != nil {
			c.teardown(err)
			return
		}
		if c.handleBuffered() {
			return
		}
		if c.rd.empty() && c.park() {
			return
		}
	}
}

// handleBuffered handles every whole frame in the buffer. It reports true
// when the connection ended (a close frame, a protocol error).
func (c *Conn) handleBuffered() bool {
	rd := &c.rd
	if c.raw != nil {
		// A raw stream's peer has nothing to say: what it sends ends the
		// stream, unread.
		if rd.r == rd.w {
			return false
		}
		rd.r = rd.w
		c.finish(&CloseError{Code: StatusProtocolError, Reason: ErrPeerSent.Error()}, false)
		return true
	}
	for rd.r < rd.w {
		limit := c.host.opts.MaxMessageBytes - len(rd.msg)
		h, need, perr := parseHeader(rd.buf[rd.r:rd.w], limit)
		if perr != nil {
			c.finish(perr, false)
			return true
		}
		if need > 0 {
			rd.need = need
			return false
		}
		if total := h.size + h.n; rd.w-rd.r < total {
			rd.need = total
			return false
		}
		p := rd.buf[rd.r+h.size : rd.r+h.size+h.n]
		unmask(p, h.key)
		rd.r += h.size + h.n
		rd.need = 0
		if end, peer := c.handleFrame(h, p); end != nil {
			c.finish(end, peer)
			return true
		}
		if rd.r == rd.w {
			rd.r, rd.w = 0, 0
			if len(rd.buf) != readBufSize {
				rd.buf = nil // grew for one frame: not kept
			}
		}
	}
	return false
}

// handleFrame acts on one frame. It returns the close frame the peer sent
// (peer true) or the protocol error to close with.
func (c *Conn) handleFrame(h header, p []byte) (end *CloseError, peer bool) {
	rd := &c.rd
	switch h.op {
	case opText, opBinary:
		if rd.msgOp != 0 {
			return protocolError("new message before the last one's final fragment"), false
		}
		if h.fin {
			return c.deliver(h.op, p), false
		}
		rd.msgOp, rd.msg = h.op, append(rd.msg[:0], p...)
	case opContinuation:
		if rd.msgOp == 0 {
			return protocolError("continuation frame without a message"), false
		}
		rd.msg = append(rd.msg, p...)
		if h.fin {
			op := rd.msgOp
			err := c.deliver(op, rd.msg)
			rd.msgOp, rd.msg = 0, nil
			return err, false
		}
	case opPing:
		c.queueControl(opPong, p)
	case opPong:
		c.pongs.Add(1)
	case opClose:
		code, reason, perr := parseClose(p)
		if perr != nil {
			return perr, false
		}
		return &CloseError{Code: code, Reason: reason, Received: true}, true
	}
	return nil, false
}

// deliver hands a whole data message to the handler, unless a close
// frame is under way (then nothing more is handled).
func (c *Conn) deliver(op byte, data []byte) *CloseError {
	if op == opText && !utf8.Valid(data) {
		return &CloseError{Code: StatusInvalidPayload, Reason: "text message is not UTF-8"}
	}
	if c.closing.Load() {
		return nil
	}
	c.lastRead.Store(time.Now().UnixNano())
	c.handler.HandleMessage(op == opBinary, data)
	return nil
}
