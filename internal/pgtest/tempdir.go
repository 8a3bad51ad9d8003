package pgtest

import (
	"fmt"
	"os"
	"testing"
)

// TempDir returns a new temporary directory, removed when the test ends,
// for tests that start their own cluster with localpg. Unlike t.TempDir, the
// postgres OS user can enter it, which localpg needs when tests run as root.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := mkdirReachable("walcast-test-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return dir
}

// mkdirReachable creates a temporary directory that other users, the
// postgres OS user among them, may pass through but not list. MkdirTemp
// makes it private, and a cluster started as root runs as postgres.
func mkdirReachable(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("create temporary dir: %w", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("chmod temporary dir: %w", err)
	}
	return dir, nil
}
