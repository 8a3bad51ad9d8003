package transport

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// Socket buffers. coder/websocket keeps the bufio.Reader and bufio.Writer it
// gets from Hijack for the life of the connection; net/http's are 4 KiB
// each, most of an idle connection's memory. We hand it 256-byte ones, and
// make the small writer cheap by putting a sockWriter under it: while our
// writer drains a batch, everything coder/websocket writes lands in a pooled
// cork buffer that reaches the socket in one write per batch (or per
// corkSize bytes), instead of two syscalls per message that a 256-byte
// bufio.Writer alone would cost.
const (
	sockBufSize = 256
	corkSize    = 64 << 10
)

var corkPool = sync.Pool{New: func() any {
	b := make([]byte, 0, corkSize)
	return &b
}}

// sockWriter is the io.Writer under coder/websocket's bufio.Writer. It owns
// the write deadline: every write to the socket gets timeout from its start,
// which replaces a context (and a timer allocation) per message.
type sockWriter struct {
	nc      net.Conn
	timeout time.Duration

	mu  sync.Mutex
	buf *[]byte // non-nil while corked
	err error   // sticky: a failed or partial write corrupts the stream
}

func (w *sockWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.buf == nil {
		return w.writeLocked(p)
	}
	if len(*w.buf)+len(p) > cap(*w.buf) {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= cap(*w.buf) {
			return w.writeLocked(p)
		}
	}
	*w.buf = append(*w.buf, p...)
	return len(p), nil
}

func (w *sockWriter) writeLocked(p []byte) (int, error) {
	err := w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	n := 0
	if err == nil {
		n, err = w.nc.Write(p)
	}
	if err != nil {
		// Part of a frame may be on the wire: nothing written after it
		// could be parsed, so the connection is over.
		w.err = err
		w.nc.Close()
	}
	return n, err
}

func (w *sockWriter) flushLocked() error {
	if len(*w.buf) == 0 {
		return nil
	}
	_, err := w.writeLocked(*w.buf)
	*w.buf = (*w.buf)[:0]
	return err
}

// cork makes later writes accumulate until uncork. Only the connection's
// writer goroutine corks, so cork and uncork never nest.
func (w *sockWriter) cork() {
	w.mu.Lock()
	if w.buf == nil && w.err == nil {
		w.buf = corkPool.Get().(*[]byte)
	}
	w.mu.Unlock()
}

// uncork writes what accumulated and returns the buffer to the pool, so an
// idle connection holds none.
func (w *sockWriter) uncork() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf == nil {
		return w.err
	}
	err := w.err
	if err == nil {
		err = w.flushLocked()
	}
	*w.buf = (*w.buf)[:0]
	corkPool.Put(w.buf)
	w.buf = nil
	return err
}

// flushBeforeClose sends corked bytes that coder/websocket wrote just before
// closing the socket (its reply to a client's close frame), unless the
// writer is busy flushing: Close must not wait for a slow peer.
func (w *sockWriter) flushBeforeClose() {
	if !w.mu.TryLock() {
		return
	}
	defer w.mu.Unlock()
	if w.buf != nil && len(*w.buf) > 0 && w.err == nil {
		// A short deadline: this runs inside coder/websocket's close.
		if w.nc.SetWriteDeadline(time.Now().Add(time.Second)) == nil {
			w.nc.Write(*w.buf)
		}
		*w.buf = (*w.buf)[:0]
	}
}

// hijackedConn is the net.Conn coder/websocket gets. It replays the bytes the
// HTTP server had already read past the upgrade request, routes writes
// through the sockWriter and flushes the cork on Close.
type hijackedConn struct {
	net.Conn
	pending []byte
	sw      *sockWriter
}

func (c *hijackedConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *hijackedConn) Write(p []byte) (int, error) { return c.sw.Write(p) }

func (c *hijackedConn) Close() error {
	c.sw.flushBeforeClose()
	return c.Conn.Close()
}

// upgradeWriter wraps the ResponseWriter given to websocket.Accept so that
// its Hijack hands over small buffers (see sockBufSize). It deliberately has
// no Unwrap: coder/websocket must find this Hijack first.
type upgradeWriter struct {
	http.ResponseWriter
	timeout time.Duration
	sw      *sockWriter // set by Hijack
}

func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	var pending []byte
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		pending = append([]byte(nil), b...)
	}
	// net/http's 4 KiB reader and writer are dropped here and collected.
	u.sw = &sockWriter{nc: nc, timeout: u.timeout}
	hc := &hijackedConn{Conn: nc, pending: pending, sw: u.sw}
	return hc, bufio.NewReadWriter(bufio.NewReaderSize(hc, sockBufSize), bufio.NewWriterSize(u.sw, sockBufSize)), nil
}
