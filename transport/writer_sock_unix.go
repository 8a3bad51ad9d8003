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

func (w *sockWriter) rawWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), w.rawBuf)
		if err == syscall.EINTR {
			continue
		}
		w.rawN, w.rawErr = max(n, 0), err
		return true // never wait here: the caller decides
	}
}
