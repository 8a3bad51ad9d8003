package transport

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// Socket buffers. coder/websocket keeps the bufio.Reader and bufio.Writer it
// gets from Hijack for the life of the connection; net/http's are 4 KiB
// each, most of an idle connection's memory. We hand it 256-byte ones: it
// only writes control frames (at most 127 bytes each) since data frames
// bypass it (writer.go), and the reader only needs to hold frame headers.
const sockBufSize = 256

// errCloseSent refuses writes after a close frame went out.
var errCloseSent = errors.New("close frame sent")

// sockWriter owns writing to the socket. Its lock keeps frames whole:
// coder/websocket's control frames (one Write each) and the flushers' and
// blocking writers' batches never interleave. Writes are first tried
// without blocking, straight on the file descriptor, which needs neither a
// deadline nor a parked goroutine; only what the socket cannot take at once
// is written with a deadline of timeout.
type sockWriter struct {
	nc      net.Conn
	rc      syscall.RawConn // nil when nc is not a socket: every write blocks
	timeout time.Duration

	mu        sync.Mutex
	err       error // sticky: a failed or partial write corrupts the stream
	closeSent bool  // a close frame went out: nothing may follow it

	// fd is the socket's descriptor, read once, for the non-blocking
	// sends. Going through rc for each send (a reference count on the
	// poller's descriptor, two more objects to fetch from memory) cost a
	// few percent of a broadcast to thousands of sockets. The number is
	// ours while fdMu is held and fdClosed is false: every close of the
	// socket goes through closeSocket, which takes fdMu, so the socket
	// cannot be closed, and its number given to a new connection, in the
	// middle of a send. fdMu is held only for a send, never for a
	// blocking write, so a close never waits for a slow client.
	fd       int
	fdMu     sync.Mutex
	fdClosed bool
}

func newSockWriter(nc net.Conn, timeout time.Duration) *sockWriter {
	w := new(sockWriter)
	w.init(nc, timeout)
	return w
}

// init readies a zero sockWriter in place: a connection holds its writer
// by value (conn.sock), one object less to fetch for every write.
func (w *sockWriter) init(nc net.Conn, timeout time.Duration) {
	w.nc, w.timeout, w.fd = nc, timeout, -1
	if rc := rawConnOf(nc); rc != nil {
		if err := rc.Control(func(fd uintptr) { w.fd = int(fd) }); err == nil {
			w.rc = rc
		}
	}
}

// closeSocket closes the socket once no send is using its descriptor. It
// is the only way the socket is closed.
func (w *sockWriter) closeSocket() error {
	w.fdMu.Lock()
	defer w.fdMu.Unlock()
	w.fdClosed = true
	return w.nc.Close()
}

// Write is coder/websocket's: a whole frame per call (its bufio.Writer
// flushes each control frame at once).
func (w *sockWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) > 0 && p[0]&0x0f == 0x8 {
		// The close frame itself still goes out; data after it may not.
		defer func() { w.closeSent = true }()
	}
	return w.writeLocked(p)
}

// closed reports whether a close frame went out.
func (w *sockWriter) closed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closeSent
}

// writeLocked writes all of p: without blocking when the socket takes it,
// else with a deadline.
func (w *sockWriter) writeLocked(p []byte) (int, error) {
	n, err := w.tryLocked(p)
	if err == nil && n < len(p) {
		var m int
		m, err = w.blockLocked(p[n:])
		n += m
	}
	return n, err
}

// tryLocked writes as much of p as the socket takes without blocking.
func (w *sockWriter) tryLocked(p []byte) (int, error) {
	switch {
	case w.err != nil:
		return 0, w.err
	case w.closeSent:
		return 0, errCloseSent
	case w.rc == nil || len(p) == 0:
		return 0, nil
	}
	w.fdMu.Lock()
	if w.fdClosed {
		w.fdMu.Unlock()
		w.fail(net.ErrClosed)
		return 0, net.ErrClosed
	}
	n, err := sendNow(w.fd, p)
	w.fdMu.Unlock()
	switch err {
	case nil:
		return n, nil
	case syscall.EAGAIN:
		return 0, nil // full: the caller hands the rest to a blocking writer
	}
	w.fail(err)
	return 0, err
}

// blockLocked writes p, waiting up to timeout for the peer to read.
func (w *sockWriter) blockLocked(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if err := w.nc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		w.fail(err)
		return 0, err
	}
	n, err := w.nc.Write(p)
	if err == nil {
		// Cleared again: the non-blocking path must not meet an expired
		// deadline.
		err = w.nc.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		w.fail(err)
	}
	return n, err
}

// blockBuffersLocked writes every buffer in order (writev on a socket).
func (w *sockWriter) blockBuffersLocked(bufs [][]byte) error {
	switch {
	case w.err != nil:
		return w.err
	case w.closeSent:
		return errCloseSent
	}
	if err := w.nc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		w.fail(err)
		return err
	}
	nb := net.Buffers(bufs)
	_, err := nb.WriteTo(w.nc)
	if err == nil {
		err = w.nc.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		w.fail(err)
	}
	return err
}

// fail makes err sticky and closes the socket: part of a frame may be on the
// wire, and nothing written after it could be parsed.
func (w *sockWriter) fail(err error) {
	w.err = err
	w.closeSocket()
}

// hijackedConn is the net.Conn coder/websocket gets. It replays the bytes the
// HTTP server had already read past the upgrade request, reads the socket
// with non-blocking raw calls (waiting in the runtime's poller, deadlines
// honoured, like net.Conn.Read) and routes writes through the sockWriter.
type hijackedConn struct {
	net.Conn
	pending []byte
	sw      *sockWriter

	// The raw read's arguments and results, used by the one goroutine
	// that reads at a time, through readFn, a method value bound once so
	// that a read allocates nothing. readFn is nil when the connection is
	// not a socket.
	readFn  func(fd uintptr) bool
	readBuf []byte
	readN   int
	readErr error
}

// newHijackedConn wraps nc, whose writer sw is, with the bytes already
// read past the upgrade request.
func newHijackedConn(nc net.Conn, pending []byte, sw *sockWriter) *hijackedConn {
	c := &hijackedConn{Conn: nc, pending: pending, sw: sw}
	if sw.rc != nil {
		c.readFn = c.rawRead
	}
	return c
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
	if c.readFn == nil || len(p) == 0 {
		return c.Conn.Read(p)
	}
	c.readBuf = p
	err := c.sw.rc.Read(c.readFn)
	n, rerr := c.readN, c.readErr
	c.readBuf, c.readN, c.readErr = nil, 0, nil
	if err == nil {
		err = rerr
	}
	switch {
	case err != nil:
		return 0, c.readError(err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readError wraps err as net.Conn.Read would, so that callers see the same
// errors (net.ErrClosed, os.ErrDeadlineExceeded, a reset) either way.
func (c *hijackedConn) readError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		// RawConn.Read's own wrapping of a poller error (closed,
		// deadline): say "read", as net.Conn.Read does.
		op.Op = "read"
		return op
	}
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError("read", errno)
	}
	return &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

func (c *hijackedConn) Write(p []byte) (int, error) { return c.sw.Write(p) }

// Close is coder/websocket's way to close the socket; it goes through the
// sockWriter (see sockWriter.fd).
func (c *hijackedConn) Close() error { return c.sw.closeSocket() }

// upgradeWriter wraps the ResponseWriter given to websocket.Accept so that
// its Hijack hands over small buffers (see sockBufSize). It deliberately has
// no Unwrap: coder/websocket must find this Hijack first.
type upgradeWriter struct {
	http.ResponseWriter
	timeout time.Duration
	sw      *sockWriter // readied by Hijack, with the conn and reader it hands over
	hc      *hijackedConn
	br      *bufio.Reader
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
	u.sw.init(nc, u.timeout)
	u.hc = newHijackedConn(nc, pending, u.sw)
	u.br = bufio.NewReaderSize(u.hc, sockBufSize)
	return u.hc, bufio.NewReadWriter(u.br, bufio.NewWriterSize(u.sw, sockBufSize)), nil
}
