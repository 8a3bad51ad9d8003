//go:build unix

package transport

import (
	"net"
	"syscall"
)

// rawConnOf returns the socket's raw connection, for non-blocking writes
// straight on the file descriptor, or nil when nc is not a socket.
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// rawWrite writes w.rawBuf to the socket without blocking (Go's sockets
// are non-blocking): EAGAIN means the socket is full.
func (w *sockWriter) rawWrite(fd uintptr) {
	for {
		n, err := sendNow(int(fd), w.rawBuf)
		if err == syscall.EINTR {
			continue
		}
		w.rawN, w.rawErr = max(n, 0), err
		return
	}
}

// rawRead reads into c.readBuf without blocking; it reports false, to wait
// in the runtime's poller, while the socket is empty.
func (c *hijackedConn) rawRead(fd uintptr) bool {
	for {
		n, err := recvNow(int(fd), c.readBuf)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.readN, c.readErr = max(n, 0), err
		return true
	}
}
