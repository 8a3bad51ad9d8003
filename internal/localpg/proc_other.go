//go:build !unix

package localpg

import (
	"io/fs"
	"os"
	"syscall"
)

// sysProcAttr: without Unix credentials and process groups the binaries run
// as ourselves, which is what Postgres expects outside Unix (it refuses an
// administrator, not a particular user).
func sysProcAttr(*osUser) *syscall.SysProcAttr { return nil }

// fileOwner: ownership is not a uid here, so reachability is not checked.
func fileOwner(fs.FileInfo) (uid, gid uint32, ok bool) { return 0, 0, false }

// ProcessExists reports whether a process with this PID is alive. Where the
// system cannot tell (os.FindProcess succeeds for any PID on some), a PID
// counts as alive, so that a running server is never taken for a stale one.
func ProcessExists(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, err := os.FindProcess(pid)
	return err == nil
}
