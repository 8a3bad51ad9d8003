//go:build unix

package harness

import (
	"strconv"
	"syscall"
	"time"
)

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard one. Setting it
// explicitly (rather than relying on the Go runtime's own raise) makes the
// load processes started from here inherit it.
func raiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// FileLimit is the soft RLIMIT_NOFILE, for the reports. Rlimit's fields
// are uint64 on Linux and int64 on the BSDs: the conversion serves both.
func FileLimit() string {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "unknown"
	}
	return strconv.FormatUint(uint64(lim.Cur), 10)
}

// SelfCPU is the CPU time this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
