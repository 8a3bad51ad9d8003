//go:build unix && !(linux && !386)

package wsconn

import "syscall"

// sendNow writes p to a non-blocking socket and recvNow reads from one;
// EAGAIN means the socket is full or empty. Both retry when interrupted.
// The runtime keeps its sockets non-blocking, so these never block.
// (Linux, but for 386, uses raw send/recv calls: sock_raw_linux.go.)
func sendNow(fd int, p []byte) (int, error) { return retryEINTR(syscall.Write, fd, p) }

// sendvNow writes the buffers in order, one sendNow each (the syscall
// package has no writev here), and stops at the first the socket does not
// take whole. The bytes written so far count even when the next call
// finds the socket full.
func sendvNow(fd int, bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		n, err := sendNow(fd, b)
		if err != nil {
			if total > 0 && err == syscall.EAGAIN {
				return total, nil
			}
			return total, err
		}
		total += n
		if n < len(b) {
			break
		}
	}
	return total, nil
}

func recvNow(fd int, p []byte) (int, error) { return retryEINTR(syscall.Read, fd, p) }

func retryEINTR(call func(int, []byte) (int, error), fd int, p []byte) (int, error) {
	for {
		n, err := call(fd, p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
