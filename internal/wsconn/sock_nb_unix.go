//go:build unix && !(linux && !386)

package wsconn

import "syscall"

// sendNow writes p to a non-blocking socket and recvNow reads from one;
// EAGAIN means the socket is full or empty. Both retry when interrupted.
// The runtime keeps its sockets non-blocking, so these never block.
// (Linux, but for 386, uses raw send/recv calls: sock_raw_linux.go.)
func sendNow(fd int, p []byte) (int, error) { return retryEINTR(syscall.Write, fd, p) }

func recvNow(fd int, p []byte) (int, error) { return retryEINTR(syscall.Read, fd, p) }

func retryEINTR(call func(int, []byte) (int, error), fd int, p []byte) (int, error) {
	for {
		n, err := call(fd, p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
