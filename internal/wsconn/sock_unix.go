//go:build unix

package wsconn

import (
	"net"
	"syscall"
)

// rawConnOf returns the socket's raw connection, for non-blocking writes
// and reads straight on the file descriptor, or nil when nc is not a
// socket (a TLS connection, a pipe).
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

// rawRead reads into s.readBuf without blocking; it reports false, to wait
// in the runtime's poller, while the socket is empty.
func (s *sock) rawRead(fd uintptr) bool {
	n, err := recvNow(int(fd), s.readBuf)
	if err == syscall.EAGAIN {
		return false
	}
	s.readN, s.readErr = max(n, 0), err
	return true
}
