package wsconn

import (
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// sock is a connection's socket. Writes are made only by the holder of the
// connection's writer role (write.go), reads only by its read loop; closes
// by anyone, through close.
//
// With raw I/O (Options.RawIO on a socket of a Unix system), writes are
// first tried without blocking, straight on the file descriptor (one
// buffer, or several in one vectored send), which needs neither a
// deadline nor a parked goroutine; only what the socket cannot take at
// once is written with a deadline of timeout by a writer goroutine. Reads wait in the runtime's poller and then read with a
// non-blocking call. Without raw I/O every write is a blocking net.Conn
// write from a writer goroutine and every read a net.Conn read.
type sock struct {
	nc      net.Conn
	rc      syscall.RawConn // nil without raw I/O: every write blocks
	timeout time.Duration
	err     error // sticky, writer role only: a failed or partial write corrupts the stream

	// fd is the socket's descriptor, read once, for the non-blocking
	// sends. Going through rc for each send (a reference count on the
	// poller's descriptor, two more objects to fetch from memory) cost a
	// few percent of a broadcast to thousands of sockets. The number is
	// ours while fdMu is held and fdClosed is false: every close of the
	// socket goes through close, which takes fdMu, so the socket cannot
	// be closed, and its number given to a new connection, in the middle
	// of a send. fdMu is held only for non-blocking sends, never for a
	// blocking write, so a close never waits for a slow client.
	fd       int
	fdMu     sync.Mutex
	fdClosed bool

	// The raw read's arguments and results, used by the read loop through
	// readFn, a method value bound once so that a read allocates nothing.
	readFn  func(fd uintptr) bool
	readBuf []byte
	readN   int
	readErr error
}

// init readies a zero sock in place: a connection holds its socket by
// value, one object less to fetch for every write.
func (s *sock) init(nc net.Conn, timeout time.Duration, raw bool) {
	s.nc, s.timeout, s.fd = nc, timeout, -1
	if !raw {
		return
	}
	if rc := rawConnOf(nc); rc != nil {
		if err := rc.Control(func(fd uintptr) { s.fd = int(fd) }); err == nil {
			s.rc = rc
			s.readFn = s.rawRead
		}
	}
}

// close closes the socket once no send is using its descriptor. It is the
// only way the socket is closed.
func (s *sock) close() {
	s.fdMu.Lock()
	defer s.fdMu.Unlock()
	if !s.fdClosed {
		s.fdClosed = true
		s.nc.Close()
	}
}

// lockOpen takes fdMu for a non-blocking send, unless the socket failed or
// its descriptor is closed: then it returns why, without the lock.
func (s *sock) lockOpen() error {
	if s.err != nil {
		return s.err
	}
	s.fdMu.Lock()
	if s.fdClosed {
		s.fdMu.Unlock()
		s.fail(net.ErrClosed)
		return net.ErrClosed
	}
	return nil
}

// trySend writes as much of p as the socket takes without blocking. Only
// with raw I/O.
func (s *sock) trySend(p []byte) (int, error) {
	if err := s.lockOpen(); err != nil {
		return 0, err
	}
	n, err := sendNow(s.fd, p)
	s.fdMu.Unlock()
	switch err {
	case nil:
		return n, nil
	case syscall.EAGAIN:
		return 0, nil // full: the caller hands the rest to a blocking writer
	}
	s.fail(err)
	return 0, err
}

// maxIovecs is the most buffers one vectored send passes to the kernel.
// IOV_MAX is 1024 on Linux and the BSDs; a flusher's batch (batchBytes
// of messages, each over assembleMax when it needs a buffer of its own)
// needs far fewer, and the iovec array stays small on the stack.
const maxIovecs = 64

// trySendv writes as much of bufs, in order, as the socket takes without
// blocking, with one vectored send per maxIovecs buffers, and returns the
// bytes written. Only with raw I/O.
func (s *sock) trySendv(bufs [][]byte) (int, error) {
	if err := s.lockOpen(); err != nil {
		return 0, err
	}
	total := 0
	var err error
	for len(bufs) > 0 {
		k := min(len(bufs), maxIovecs)
		want := 0
		for _, b := range bufs[:k] {
			want += len(b)
		}
		var n int
		n, err = sendvNow(s.fd, bufs[:k])
		if err != nil {
			break
		}
		total += n
		if n < want {
			break // full
		}
		bufs = bufs[k:]
	}
	s.fdMu.Unlock()
	switch err {
	case nil, syscall.EAGAIN:
		return total, nil // the caller hands what is left to a blocking writer
	}
	s.fail(err)
	return total, err
}

// write writes p, waiting up to timeout for the peer to read.
func (s *sock) write(p []byte) error {
	if err := s.setDeadline(); err != nil {
		return err
	}
	_, err := s.nc.Write(p)
	return s.clearDeadline(err)
}

// writev writes every buffer in order (writev on a socket), waiting up to
// timeout for the peer to read.
func (s *sock) writev(bufs [][]byte) error {
	if err := s.setDeadline(); err != nil {
		return err
	}
	nb := net.Buffers(bufs)
	_, err := nb.WriteTo(s.nc)
	return s.clearDeadline(err)
}

func (s *sock) setDeadline() error {
	if s.err != nil {
		return s.err
	}
	if err := s.nc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		s.fail(err)
		return err
	}
	return nil
}

// clearDeadline clears the write deadline after a write that succeeded:
// the non-blocking path must not meet an expired deadline.
func (s *sock) clearDeadline(err error) error {
	if err == nil {
		err = s.nc.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		s.fail(err)
	}
	return err
}

// fail makes err sticky and closes the socket: part of a frame may be on
// the wire, and nothing written after it could be parsed.
func (s *sock) fail(err error) {
	s.err = err
	s.close()
}

// read reads into p: with raw I/O it waits in the runtime's poller until
// the socket is readable and then reads without blocking. The end of the
// stream is io.EOF.
func (s *sock) read(p []byte) (int, error) {
	if s.readFn == nil {
		return s.nc.Read(p)
	}
	s.readBuf = p
	err := s.rc.Read(s.readFn)
	n, rerr := s.readN, s.readErr
	s.readBuf, s.readN, s.readErr = nil, 0, nil
	if err == nil {
		err = rerr
	}
	switch {
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
