//go:build unix && (!linux || race)

package transport

import "syscall"

// sendNow writes p to a non-blocking socket and recvNow reads from one;
// EAGAIN means the socket is full or empty.
//
// Race-detector builds on Linux use these too: syscall.Write and
// syscall.Read tell the detector that what one goroutine did before
// writing happens before what a reader of the other end does after reading
// it, and tests rely on that edge. The raw calls of sock_raw_linux.go do
// not.
func sendNow(fd int, p []byte) (int, error) { return syscall.Write(fd, p) }

func recvNow(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }
