//go:build unix && (!linux || race)

package transport

import "syscall"

// sendNow writes p to a non-blocking socket; EAGAIN means it is full.
//
// Race-detector builds on Linux use this too: syscall.Write tells the
// detector that what one goroutine wrote before the write happens before
// what a reader of the other end does after reading it, and tests rely on
// that edge. The raw send(2) of writer_send_linux.go does not.
func sendNow(fd int, p []byte) (int, error) { return syscall.Write(fd, p) }
