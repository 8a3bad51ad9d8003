//go:build linux && !race

package transport

import (
	"syscall"
	"unsafe"
)

// sendNow is send(2) with MSG_DONTWAIT, made as a raw system call.
//
// Raw, because the call cannot block: the runtime's bookkeeping around an
// ordinary system call (handing the P over, and the sysmon thread waking to
// look at Ps in system calls) cost about a tenth of the CPU of a broadcast
// to thousands of sockets. send rather than write skips the VFS layer.
// MSG_NOSIGNAL: a peer that is gone gives EPIPE, not a signal.
func sendNow(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd),
		uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
