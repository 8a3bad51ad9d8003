//go:build unix && (!linux || race)

package transport

import "syscall"

// sendNow writes p to a non-blocking socket and recvNow reads from one;
// EAGAIN means the socket is full or empty. Both retry when interrupted.
//
// Race-detector builds on Linux use these too: syscall.Write and
// syscall.Read tell the detector that what one goroutine did before
// writing happens before what a reader of the other end does after reading
// it, and tests rely on that edge. The raw calls of sock_raw_linux.go do
// not.
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
