package localpg

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLockDir(t *testing.T) {
	impls := []struct {
		name string
		lock func(path string) (*DirLock, error)
	}{
		{"native", lockFile},
		{"pid file", lockPidFile},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), LockFile)
			first, err := impl.lock(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = impl.lock(path)
			if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
				t.Fatalf("second lock: %v, want ErrLocked naming our pid", err)
			}
			if err := first.Unlock(); err != nil {
				t.Fatal(err)
			}
			again, err := impl.lock(path)
			if err != nil {
				t.Fatalf("lock after unlock: %v", err)
			}
			if err := again.Unlock(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLockPidFileStale takes over a lock file whose holder is gone.
func TestLockPidFileStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), LockFile)
	// PIDs are below 2^22 on Linux and 99999 on most other systems.
	if err := os.WriteFile(path, []byte("2147483646\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := lockPidFile(path)
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unlocked pid file still there: %v", err)
	}
}
