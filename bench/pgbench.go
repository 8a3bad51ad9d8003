package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/localpg"
)

// pgBench is a throwaway cluster with table t, its publication and a
// walcast binary: what the latency and filters workloads share.
type pgBench struct {
	tmp, bin, binDir   string
	url, secret, token string
	conn               *pgx.Conn   // setup and slots
	load               []*pgx.Conn // the load generator's
	markers            int64
	postmaster         int           // PID, for CPU accounting
	conns              int           // load connections to open
	quietWait          time.Duration // how long waitQuiet waits at most
}

// startPGBenchTemp starts a pgBench with conns load connections and the
// walcast binary (built when empty) in a fresh temporary directory named
// after pattern, which stop also removes.
func startPGBenchTemp(ctx context.Context, pattern string, conns int, quietWait time.Duration, walcast string) (b *pgBench, stop func(), err error) {
	tmp, err := clusterTempDir(pattern)
	if err != nil {
		return nil, func() {}, err
	}
	b = &pgBench{tmp: tmp, bin: walcast, conns: conns, quietWait: quietWait}
	stopBench, err := b.start(ctx)
	return b, func() {
		stopBench()
		os.RemoveAll(tmp)
	}, err
}

// start builds walcast unless given, starts the cluster, creates the table
// and publication and opens the connections. stop undoes what was done,
// also after an error.
func (b *pgBench) start(ctx context.Context) (stop func(), err error) {
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if b.binDir, err = localpg.FindBinDir(); err != nil {
		return stop, err
	}
	if b.bin == "" {
		b.bin = filepath.Join(b.tmp, "walcast")
		if err := buildWalcast(ctx, b.bin); err != nil {
			return stop, err
		}
	}
	fmt.Fprintln(os.Stderr, "starting postgres ...")
	dataDir := filepath.Join(b.tmp, "pgdata")
	cluster, err := localpg.Start(ctx, localpg.Config{
		DataDir: dataDir, BinDir: b.binDir, Fast: true,
		// Commits wait for their WAL write: with synchronous_commit=off WAL
		// reaches the walsender only every wal_writer_delay.
		Settings: map[string]string{"synchronous_commit": "on"},
	})
	if err != nil {
		return stop, err
	}
	undo = append(undo, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := cluster.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench latency:", err)
		}
	})
	b.url = cluster.URL("postgres")
	b.postmaster = postmasterPID(dataDir)
	connect := func(what string) (*pgx.Conn, error) {
		c, err := pgx.Connect(ctx, b.url)
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", what, err)
		}
		undo = append(undo, func() { c.Close(context.WithoutCancel(ctx)) })
		return c, nil
	}
	if b.conn, err = connect("for setup"); err != nil {
		return stop, err
	}
	if _, err := b.conn.Exec(ctx, latencySetupSQL); err != nil {
		return stop, fmt.Errorf("create table t and publication: %w", err)
	}
	for range b.conns {
		c, err := connect("load generator")
		if err != nil {
			return stop, err
		}
		b.load = append(b.load, c)
	}
	b.secret, b.token, err = anonToken()
	return stop, err
}

func (b *pgBench) wsURL(port int) string {
	return fmt.Sprintf("ws://127.0.0.1:%d/realtime/v1/websocket?apikey=%s&vsn=2.0.0", port, b.token)
}

// marker returns fresh k values for a run's warm-up rows and measured rows.
func (b *pgBench) marker() (warm, measured int64) {
	b.markers++
	return 2 * b.markers, 2*b.markers + 1
}

func pgSettings(ctx context.Context, conn *pgx.Conn) (string, error) {
	rows, err := conn.Query(ctx, `SELECT name || '=' || setting || coalesce(unit, '') FROM pg_settings
		WHERE name IN ('synchronous_commit', 'fsync', 'full_page_writes', 'wal_writer_delay', 'shared_buffers', 'wal_level') ORDER BY name`)
	if err != nil {
		return "", fmt.Errorf("read settings: %w", err)
	}
	s, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("read settings: %w", err)
	}
	return strings.Join(s, ", "), nil
}
