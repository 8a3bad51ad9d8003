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

// rawRead reads into c.readBuf without blocking; it reports false, to wait
// in the runtime's poller, while the socket is empty.
func (c *hijackedConn) rawRead(fd uintptr) bool {
	n, err := recvNow(int(fd), c.readBuf)
	if err == syscall.EAGAIN {
		return false
	}
	c.readN, c.readErr = max(n, 0), err
	return true
}
