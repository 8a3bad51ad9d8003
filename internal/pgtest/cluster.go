package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walcast/walcast/internal/localpg"
)

// dirPrefix names the temporary directories of throwaway clusters, so that
// orphans can be found.
const dirPrefix = "walcast-pgtest-"

// ownerFile, in a cluster's directory, holds the PID of the test binary that
// owns the cluster.
const ownerFile = "owner.pid"

// shared is the state of the test binary's throwaway cluster.
var shared struct {
	mu       sync.Mutex
	tried    bool             // a start was attempted
	startErr error            // the outcome of that attempt
	dir      string           // temporary directory holding the data dir
	cfg      localpg.Config   // with the port pinned after the first start
	cluster  *localpg.Cluster // nil while stopped
	checked  map[string]error // checkServer results by URL
}

// sharedCluster starts the throwaway cluster on first use and returns it.
func sharedCluster(t testing.TB) *localpg.Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.tried {
		shared.tried = true
		shared.startErr = startShared()
	}
	switch {
	case errors.Is(shared.startErr, localpg.ErrNotFound):
		unavailable(t, shared.startErr)
	case shared.startErr != nil:
		t.Fatalf("pgtest: %v", shared.startErr)
	case shared.cluster == nil:
		t.Fatal("pgtest: the shared cluster is stopped (pgtest.Stop); call pgtest.Start first")
	}
	return shared.cluster
}

func startShared() error {
	binDir, err := localpg.FindBinDir()
	if err != nil {
		return err
	}
	reapOrphans()
	dir, err := mkdirReachable(dirPrefix)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("write owner file: %w", err)
	}
	cfg := localpg.Config{DataDir: filepath.Join(dir, "data"), BinDir: binDir, Fast: true}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localpg.Start(ctx, cfg)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	cfg.Port = c.Port()
	shared.dir, shared.cfg, shared.cluster = dir, cfg, c
	return nil
}

// shutdown stops the shared cluster and removes its directory.
func shutdown() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.dir == "" {
		return nil
	}
	if shared.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := shared.cluster.Stop(ctx); err != nil {
			return err
		}
		shared.cluster = nil
	}
	if err := os.RemoveAll(shared.dir); err != nil {
		return fmt.Errorf("remove cluster dir: %w", err)
	}
	shared.dir = ""
	return nil
}

// reapOrphans removes the directories of clusters whose test binary died
// before Run could stop them. Their postmasters notice that postmaster.pid is
// gone within a minute and shut down. The owner file goes last, so that a
// removal cut short is retried by the next test binary.
func reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or being created right now
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || localpg.ProcessExists(pid) {
			continue
		}
		if os.RemoveAll(filepath.Join(dir, "data")) == nil {
			os.RemoveAll(dir)
		}
	}
}

// Restart restarts the shared throwaway cluster (a fast shutdown, then a
// start on the same port). Open connections and walsenders are cut.
func Restart(t testing.TB) {
	t.Helper()
	Stop(t)
	Start(t)
}

// Stop stops the shared throwaway cluster, for tests of what happens while
// Postgres is away. If the test does not call Start, the cluster is started
// again when the test ends.
func Stop(t testing.TB) {
	t.Helper()
	localOnly(t)
	shared.mu.Lock()
	stopped := shared.tried && shared.startErr == nil && shared.cluster == nil
	shared.mu.Unlock()
	if stopped {
		return
	}
	sharedCluster(t) // starts it first if needed, or tells why it cannot
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := shared.cluster.Stop(ctx); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	shared.cluster = nil
	t.Cleanup(func() {
		if err := startStopped(); err != nil {
			t.Errorf("pgtest: start again after Stop: %v", err)
		}
	})
}

// Start starts the shared throwaway cluster again after Stop. It does
// nothing when the cluster runs.
func Start(t testing.TB) {
	t.Helper()
	localOnly(t)
	if err := startStopped(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	sharedCluster(t) // the first start, if there was none
}

func startStopped() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster != nil || shared.dir == "" {
		return nil // running, or never started
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localpg.Start(ctx, shared.cfg)
	if err != nil {
		return err
	}
	shared.cluster = c
	return nil
}

func localOnly(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvURL) != "" {
		t.Skipf("pgtest: needs the throwaway cluster, but %s is set", EnvURL)
	}
}
