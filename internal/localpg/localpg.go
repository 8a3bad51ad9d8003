package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Config describes a local cluster. The zero value of every field but
// DataDir is usable.
type Config struct {
	// DataDir is created with initdb when missing or empty, and reused
	// otherwise. Required.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// BinDir holds initdb, pg_ctl and postgres; "" means FindBinDir.
	BinDir string
	// Fast sets fsync=off, synchronous_commit=off and full_page_writes=off:
	// for tests only, a crash can corrupt the cluster.
	Fast bool
	// Settings are extra postgresql.conf settings, written last.
	Settings map[string]string
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
}

// Cluster is a running local cluster.
type Cluster struct {
	cfg     Config
	dataDir string // absolute
	logFile string // pg_ctl's server log
	run     *runner
	log     *slog.Logger

	mu      sync.Mutex
	port    int
	stopped bool
}

const (
	// pgCtlWait bounds pg_ctl start and stop (-t), in seconds.
	pgCtlWait = "60"
	// portAttempts is how often a start on a picked port is retried when
	// another process took that port between picking and binding.
	portAttempts = 3
)

// Start starts the cluster in cfg.DataDir, creating it first if needed, and
// returns once it accepts connections.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	c, err := newCluster(cfg)
	if err != nil {
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	if err := c.start(ctx); err != nil {
		return nil, fmt.Errorf("start cluster in %s: %w", c.dataDir, err)
	}
	return c, nil
}

func newCluster(cfg Config) (*Cluster, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("no data dir given")
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve data dir: %w", err)
	}
	if cfg.BinDir == "" {
		if cfg.BinDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if !isBinDir(cfg.BinDir) {
		return nil, fmt.Errorf("bin dir %s lacks initdb, pg_ctl or postgres: point it at the PostgreSQL server binaries, or leave it empty to search", cfg.BinDir)
	}
	run, err := newRunner(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	if err := run.checkReachable(dataDir); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Cluster{
		cfg:     cfg,
		dataDir: dataDir,
		logFile: filepath.Join(dataDir, "postgres.log"),
		run:     run,
		log:     logger.With("component", "localpg", "data_dir", dataDir),
	}, nil
}

func (c *Cluster) start(ctx context.Context) error {
	if err := c.initDataDir(ctx); err != nil {
		return err
	}
	adopted, err := c.adoptRunning(ctx)
	if err != nil || adopted {
		return err
	}
	for attempt := 1; ; attempt++ {
		port := c.cfg.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return err
			}
		}
		if err := c.writeConfig(port); err != nil {
			return err
		}
		err = c.pgCtlStart(ctx)
		if err == nil {
			c.port = port
			c.log.Info("postgres started", "port", port)
			return nil
		}
		if c.cfg.Port != 0 || attempt == portAttempts || !errors.Is(err, errPortTaken) {
			return err
		}
		c.log.Warn("port taken before postgres could bind it, trying another", "port", port)
	}
}

// initDataDir runs initdb unless the data dir already holds a cluster.
func (c *Cluster) initDataDir(ctx context.Context) error {
	_, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION"))
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("inspect data dir: %w", err)
	}
	entries, err := os.ReadDir(c.dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Parents we create stay enterable by the postgres OS user.
		if err := os.MkdirAll(filepath.Dir(c.dataDir), 0o755); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		if err := os.Mkdir(c.dataDir, 0o700); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read data dir: %w", err)
	case len(entries) > 0:
		return errors.New("data dir is not empty but holds no cluster (no PG_VERSION): empty it or choose another data dir")
	}
	// initdb insists on 0700 (or 0750) and on owning the directory.
	if err := os.Chmod(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("chmod data dir: %w", err)
	}
	if err := c.run.own(c.dataDir); err != nil {
		return err
	}
	args := []string{"-D", c.dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale"}
	if c.cfg.Fast {
		args = append(args, "--no-sync")
	}
	start := time.Now()
	if err := c.run.run(ctx, filepath.Dir(c.dataDir), "initdb", args...); err != nil {
		return err
	}
	c.log.Info("initdb done", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// adoptRunning deals with a postmaster.pid left in the data dir: it adopts a
// postmaster that is running, waits out one that is starting or stopping,
// and removes the file when its PID is no longer a postgres process.
func (c *Cluster) adoptRunning(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		pf, ok, err := readPidFile(c.dataDir)
		if err != nil {
			return false, fmt.Errorf("read postmaster.pid: %w", err)
		}
		if !ok {
			return false, nil
		}
		owner := pidOwner(pf.pid, c.dataDir)
		switch {
		case pf.pid == 0:
			// Caught while the postmaster writes the file: look again.
		case owner == pidDead:
			// The new postmaster replaces its own stale lock file.
			return false, nil
		case owner == pidOther:
			c.log.Warn("removing stale postmaster.pid", "pid", pf.pid)
			if err := os.Remove(filepath.Join(c.dataDir, "postmaster.pid")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, fmt.Errorf("remove stale postmaster.pid: %w", err)
			}
			return false, nil
		case pf.status == "ready":
			if c.cfg.Port != 0 && c.cfg.Port != pf.port {
				return false, fmt.Errorf("postgres (pid %d) already runs from this data dir on port %d, not the configured %d: stop it with pg_ctl stop -D %s, or configure port %d", pf.pid, pf.port, c.cfg.Port, c.dataDir, pf.port)
			}
			c.port = pf.port
			c.log.Warn("adopting postgres already running from this data dir", "pid", pf.pid, "port", pf.port)
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("postgres (pid %d) from this data dir stays %q: stop it with pg_ctl stop -D %s: %w", pf.pid, pf.status, c.dataDir, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var errPortTaken = errors.New("port already in use")

func (c *Cluster) pgCtlStart(ctx context.Context) error {
	offset := fileSize(c.logFile)
	err := c.run.run(ctx, filepath.Dir(c.dataDir), "pg_ctl", "start", "-D", c.dataDir, "-l", c.logFile, "-w", "-t", pgCtlWait, "-s")
	if err == nil {
		return nil
	}
	tail := readFrom(c.logFile, offset)
	if bytes.Contains(tail, []byte("Address already in use")) {
		err = fmt.Errorf("%w: %w", errPortTaken, err)
	}
	if len(bytes.TrimSpace(tail)) == 0 {
		return fmt.Errorf("%w (server log %s)", err, c.logFile)
	}
	return fmt.Errorf("%w (server log %s):\n%s", err, c.logFile, lastLines(tail, 20))
}

// URL returns a connection URL for dbname as the superuser "postgres".
func (c *Cluster) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port(), url.PathEscape(dbname))
}

// Port returns the TCP port the cluster listens on.
func (c *Cluster) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

// Stop shuts the cluster down with pg_ctl stop -m fast: open sessions are
// terminated, then the server checkpoints and exits. It is idempotent.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	err := c.run.run(ctx, filepath.Dir(c.dataDir), "pg_ctl", "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", pgCtlWait, "-s")
	switch {
	case err == nil:
		c.log.Info("postgres stopped")
	case isRunning(c.dataDir):
		return fmt.Errorf("stop cluster in %s (server log %s): %w", c.dataDir, c.logFile, err)
	default:
		// Already gone (stopped through another handle, or crashed).
		c.log.Debug("postgres was not running")
	}
	c.stopped = true
	return nil
}

func isRunning(dataDir string) bool {
	pf, ok, _ := readPidFile(dataDir)
	return ok && pidOwner(pf.pid, dataDir) == pidPostmaster
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns what was appended to path since offset: the log of one
// start attempt.
func readFrom(path string, offset int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return b
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
