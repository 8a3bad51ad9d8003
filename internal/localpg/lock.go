package localpg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// ErrLocked reports that another process holds the lock of a directory.
var ErrLocked = errors.New("locked by another process")

// DirLock is an exclusive lock on a directory, held by this process until
// Unlock or exit. It keeps a second server from adopting, and later
// stopping, the cluster of a first one that still runs.
type DirLock struct {
	path    string
	f       *os.File
	release func() error
}

// LockFile is the name of the lock file in a locked directory.
const LockFile = "walcast.lock"

// LockDir takes the lock of dir (created when missing) without waiting. When
// another process holds it, the error wraps ErrLocked and names that
// process's PID.
func LockDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	return lockFile(dir + string(os.PathSeparator) + LockFile)
}

// Unlock releases the lock. The file stays: removing it would race with a
// process that just opened it.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.release()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// lockedError names the holder recorded in the lock file.
func lockedError(path string) error {
	b, _ := os.ReadFile(path)
	if pid := strings.TrimSpace(string(b)); pid != "" {
		return fmt.Errorf("%s: %w (pid %s)", path, ErrLocked, pid)
	}
	return fmt.Errorf("%s: %w", path, ErrLocked)
}

// writePid records the holder in a file it holds locked.
func writePid(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// lockPidFile is the portable lock: the file is created exclusively and
// holds the holder's PID; a file whose PID is no longer alive is stale and
// taken over. It is used where the system has no flock, and is tested
// everywhere.
func lockPidFile(path string) (*DirLock, error) {
	for attempt := 0; attempt < 3; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			if err := writePid(f); err != nil {
				f.Close()
				os.Remove(path)
				return nil, fmt.Errorf("write %s: %w", path, err)
			}
			return &DirLock{path: path, f: f, release: func() error { return os.Remove(path) }}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || perr != nil || pid == os.Getpid() || ProcessExists(pid) {
			// A file being written, an unreadable one or a live holder.
			return nil, lockedError(path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove stale %s: %w", path, err)
		}
	}
	return nil, lockedError(path)
}
