//go:build unix

package localpg

import (
	"errors"
	"io/fs"
	"syscall"
)

// sysProcAttr runs a child as owner (nil: as ourselves) in a process group
// of its own.
func sysProcAttr(owner *osUser) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if owner != nil {
		attr.Credential = &syscall.Credential{Uid: owner.uid, Gid: owner.gid}
	}
	return attr
}

// fileOwner returns the owner and group of a file.
func fileOwner(fi fs.FileInfo) (uid, gid uint32, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint32(st.Uid), uint32(st.Gid), true
}

// ProcessExists reports whether a process with this PID is alive (owned by
// anyone).
func ProcessExists(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
