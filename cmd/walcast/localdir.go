package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/walcast/walcast/internal/localpg"
)

// sharedDataRoot holds the clusters of data dirs that the postgres OS user
// cannot enter (a clone under /root, which is mode 700, run as root).
const sharedDataRoot = "/var/lib/walcast"

// lockDataDir makes sure one server at a time uses dir: a second one would
// adopt the first one's cluster and stop it on its way out.
func lockDataDir(dir string) (*localpg.DirLock, error) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	lock, err := localpg.LockDir(dir)
	if errors.Is(err, localpg.ErrLocked) {
		return nil, fmt.Errorf("another walcast serve is running with the data dir %s (%v): stop it first, or give this one its own --data-dir, --local-pg-port and --port", dir, err)
	}
	return lock, err
}

// localDataDir is where the local cluster of dir lives: dir/pgdata, unless
// we run as root and the postgres OS user, which then runs the cluster,
// cannot enter dir. Then it lives under sharedDataRoot, in a directory
// named after dir, so the same checkout finds it again; a note in dir
// says where.
func localDataDir(dir string, log *slog.Logger) (string, error) {
	pgdata := filepath.Join(dir, "pgdata")
	why := localpg.CheckReachable(pgdata)
	if !errors.Is(why, localpg.ErrUnreachable) {
		return pgdata, why
	}
	sum := sha256.Sum256([]byte(dir))
	shared := filepath.Join(sharedDataRoot, filepath.Base(filepath.Dir(dir))+"-"+hex.EncodeToString(sum[:6]), "pgdata")
	if err := os.MkdirAll(filepath.Dir(shared), 0o755); err != nil {
		return "", fmt.Errorf("%v; and %s, where the cluster would go instead, cannot be created: %w", why, filepath.Dir(shared), err)
	}
	// Enterable, not listable, by others: the postgres user passes through.
	if err := os.Chmod(sharedDataRoot, 0o711); err != nil {
		return "", err
	}
	note := filepath.Join(dir, "pgdata-location")
	if err := os.WriteFile(note, []byte(shared+"\n"), 0o644); err != nil {
		return "", err
	}
	log.Info("the postgres OS user cannot enter the data dir, so the local cluster lives elsewhere",
		"data_dir", dir, "cluster_dir", shared, "why", why.Error())
	return shared, nil
}
