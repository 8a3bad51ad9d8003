package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGBench is a throwaway cluster with table t, its publication and a
// walcast binary: what the latency and filters workloads share.
type PGBench struct {
	Tmp, Bin, BinDir   string
	URL, Secret, token string
	Conn               *pgx.Conn   // setup and slots
	Load               []*pgx.Conn // the load generator's
	markers            int64
	Postmaster         int           // PID, for CPU accounting
	conns              int           // load connections to open
	quietWait          time.Duration // how long waitQuiet waits at most
}

// StartPGBenchTemp starts a pgBench with conns load connections and the
// walcast binary (built when empty) in a fresh temporary directory named
// after pattern, which stop also removes.
func StartPGBenchTemp(ctx context.Context, pattern string, conns int, quietWait time.Duration, walcast string) (b *PGBench, stop func(), err error) {
	tmp, err := ClusterTempDir(pattern)
	if err != nil {
		return nil, func() {}, err
	}
	b = &PGBench{Tmp: tmp, Bin: walcast, conns: conns, quietWait: quietWait}
	stopBench, err := b.start(ctx)
	return b, func() {
		stopBench()
		os.RemoveAll(tmp)
	}, err
}

// start builds walcast unless given, starts the cluster, creates the table
// and publication and opens the connections. stop undoes what was done,
// also after an error.
func (b *PGBench) start(ctx context.Context) (stop func(), err error) {
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if b.BinDir, err = FindPGBinDir(); err != nil {
		return stop, err
	}
	if b.Bin == "" {
		b.Bin = filepath.Join(b.Tmp, "walcast")
		if err := BuildWalcast(ctx, b.Bin); err != nil {
			return stop, err
		}
	}
	fmt.Fprintln(os.Stderr, "starting postgres ...")
	dataDir := filepath.Join(b.Tmp, "pgdata")
	cluster, err := StartCluster(ctx, ClusterConfig{
		DataDir: dataDir, BinDir: b.BinDir,
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
	b.URL = cluster.URL("postgres")
	b.Postmaster = postmasterPID(dataDir)
	connect := func(what string) (*pgx.Conn, error) {
		c, err := pgx.Connect(ctx, b.URL)
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", what, err)
		}
		undo = append(undo, func() { c.Close(context.WithoutCancel(ctx)) })
		return c, nil
	}
	if b.Conn, err = connect("for setup"); err != nil {
		return stop, err
	}
	if _, err := b.Conn.Exec(ctx, latencySetupSQL); err != nil {
		return stop, fmt.Errorf("create table t and publication: %w", err)
	}
	for range b.conns {
		c, err := connect("load generator")
		if err != nil {
			return stop, err
		}
		b.Load = append(b.Load, c)
	}
	b.Secret, b.token, err = AnonToken()
	return stop, err
}

func (b *PGBench) WsURL(port int) string {
	return fmt.Sprintf("ws://127.0.0.1:%d/realtime/v1/websocket?apikey=%s&vsn=2.0.0", port, b.token)
}

// Marker returns fresh k values for a run's warm-up rows and measured rows.
func (b *PGBench) Marker() (warm, measured int64) {
	b.markers++
	return 2 * b.markers, 2*b.markers + 1
}

func PgSettings(ctx context.Context, conn *pgx.Conn) (string, error) {
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

// The channel every WebSocket receiver joins, with the INSERT binding on
// public.t.
const BenchTopic = "realtime:bench"

var (
	RecordKey  = []byte(`"record":{`)
	KKey       = []byte(`"k":`)
	SubKey     = []byte(`"sub":`)
	IDKey      = []byte(`"id":`)
	SentAtKey  = []byte(`"sent_at":"`)
	TopicKey   = []byte(`"` + BenchTopic + `"`)
	ReplyKey   = []byte(`"phx_reply"`)
	SystemKey  = []byte(`"system"`)
	StatusOK   = []byte(`"status":"ok"`)
	Subscribed = []byte(`Subscribed to PostgreSQL`)
)

// The latency table: ~100-byte rows (tuple header included) whose sent_at
// is clock_timestamp() at insert, just before the one-row transaction
// commits. k marks the run a row belongs to and whether it is measured;
// sub picks the one subscriber an eq-filtered row is for.
const (
	latencySetupSQL = `
CREATE TABLE t (
  id bigserial PRIMARY KEY,
  k int NOT NULL,
  sub int NOT NULL DEFAULT 0,
  sent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  payload text NOT NULL
);
` + GrantAnon + `
GRANT SELECT ON t TO anon;
CREATE PUBLICATION walcast FOR ALL TABLES;`
	InsertSQL = `INSERT INTO t (k, sub, payload) VALUES ($1, $2, $3)`
)

var RowPayload = strings.Repeat("x", 64)

// GrantAnon creates the role anon when the cluster lacks it (walcast
// serve's migrations, which create it otherwise, run after the schema):
// serve delivers a table's changes to a token of role anon only when anon
// may SELECT it.
const GrantAnon = `DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
END $$;`

// Describe is what a report says of where and when it was measured: the
// machine, and the line env with the machine, the load average before the
// run (loadBefore) and now, and the time since began.
func (b *PGBench) Describe(ctx context.Context, loadBefore string, began time.Time) (machine, env string, err error) {
	machine, err = DescribeMachine(ctx, b.Conn, filepath.Join(b.BinDir, "postgres"), b.Bin)
	if err != nil {
		return "", "", err
	}
	return machine, fmt.Sprintf("%s Load average (1 min) before / after: %s / %s. Run took %s.",
		machine, loadBefore, LoadAverage(), time.Since(began).Round(time.Second)), nil
}
