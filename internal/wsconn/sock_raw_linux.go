//go:build linux && !386

package wsconn

import (
	"syscall"
	"unsafe"
)

// sendNow and recvNow are send(2) and recv(2) with MSG_DONTWAIT, made as
// raw system calls. Both retry when interrupted.
//
// Raw, because neither can block. The runtime's bookkeeping around an
// ordinary system call costs more than the call on a busy server: it hands
// the P over and back, and the first such call after the process was idle
// wakes the sysmon thread, which then polls every 20 µs for a millisecond
// or more. With a broadcast every few milliseconds that was a few percent
// of the CPU, and the per-call overhead another tenth. send and recv rather
// than write and read skip the VFS layer. MSG_NOSIGNAL: a peer that is gone
// gives EPIPE, not a signal.
//
// Race-detector builds use these too, so that the detector runs the code
// production runs. A raw call gives the detector no happens-before edge
// between a write here and a read at the other end of the socket: tests
// synchronise explicitly.
//
// Not on 386, where socket calls go through socketcall(2) and there is no
// SYS_SENDTO: sock_nb_unix.go serves it.
func sendNow(fd int, p []byte) (int, error) {
	return rawSocketCall(syscall.SYS_SENDTO, fd, p, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL)
}

func recvNow(fd int, p []byte) (int, error) {
	return rawSocketCall(syscall.SYS_RECVFROM, fd, p, syscall.MSG_DONTWAIT)
}

func rawSocketCall(trap uintptr, fd int, p []byte, flags uintptr) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, errno := syscall.RawSyscall6(trap, uintptr(fd),
			uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), flags, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}
