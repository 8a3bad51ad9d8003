//go:build linux && !386

package wsconn

import (
	"syscall"
	"unsafe"
)

// sendNow and recvNow are send(2) and recv(2) with MSG_DONTWAIT, made as
// raw system calls (sendvNow, below, is sendmsg(2) alike). All retry when
// interrupted.
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

// sendvNow is sendmsg(2) with MSG_DONTWAIT, made as a raw system call
// like sendNow: the buffers (at most maxIovecs; empty ones are skipped) go
// out in order in one call, so that a big message's body is sent from
// where it lies, next to its frame header, without a copy.
func sendvNow(fd int, bufs [][]byte) (int, error) {
	var iov [maxIovecs]syscall.Iovec
	n := 0
	for _, b := range bufs[:min(len(bufs), maxIovecs)] {
		if len(b) == 0 {
			continue
		}
		iov[n].Base = &b[0]
		iov[n].SetLen(len(b))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	var msg syscall.Msghdr
	msg.Iov = &iov[0]
	setCount(&msg.Iovlen, n)
	for {
		r, _, errno := syscall.RawSyscall(syscall.SYS_SENDMSG, uintptr(fd),
			uintptr(unsafe.Pointer(&msg)), syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL)
		switch errno {
		case 0:
			return int(r), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}

// setCount sets a count field whose width depends on the architecture
// (Msghdr.Iovlen: 32 bits on 32-bit systems), which the syscall package
// has no setter for.
func setCount[T ~uint32 | ~uint64](field *T, n int) { *field = T(n) }

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
