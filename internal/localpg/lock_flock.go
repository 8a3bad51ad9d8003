//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package localpg

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an flock on path: the kernel releases it when the process
// dies, however it dies, so there is never a stale lock to clean up.
func lockFile(path string) (*DirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	fd := int(f.Fd())
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, lockedError(path)
	}
	if errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.ENOSYS) {
		f.Close()
		return lockPidFile(path + ".pid") // a file system without flock
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := writePid(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &DirLock{path: path, f: f, release: func() error { return syscall.Flock(fd, syscall.LOCK_UN) }}, nil
}
