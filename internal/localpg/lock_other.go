//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package localpg

// lockFile uses the portable PID-file lock where there is no flock(2).
func lockFile(path string) (*DirLock, error) { return lockPidFile(path) }
