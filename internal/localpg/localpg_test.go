package localpg

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestSortNewestFirst(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{
			name: "numeric, not lexical",
			in:   []string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin"},
			want: []string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/10/bin", "/usr/lib/postgresql/9.6/bin"},
		},
		{
			name: "pgdg prefix",
			in:   []string{"/usr/pgsql-13/bin", "/usr/pgsql-16/bin"},
			want: []string{"/usr/pgsql-16/bin", "/usr/pgsql-13/bin"},
		},
		{name: "empty", in: nil, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := slices.Clone(tc.in)
			sortNewestFirst(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFindBinDirUsesPath(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	got, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if got != dir {
		t.Fatalf("FindBinDir() = %q, want %q", got, dir)
	}
}

func TestFindBinDirIncomplete(t *testing.T) {
	// initdb alone on PATH is not enough: Start also needs pg_ctl.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "initdb"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	got, err := FindBinDir()
	if err == nil && got == dir {
		t.Fatalf("FindBinDir() = %q, want another dir or ErrNotFound", got)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindBinDir() error = %v, want ErrNotFound", err)
	}
}

func TestRenderConf(t *testing.T) {
	tests := []struct {
		name    string
		fast    bool
		extra   map[string]string
		want    []string // lines that must appear, in this order
		absent  []string
		wantErr bool
	}{
		{
			name:   "base",
			want:   []string{"listen_addresses = '127.0.0.1'", "wal_level = 'logical'", "max_slot_wal_keep_size = '1GB'", "port = '5433'", "unix_socket_directories = '/d'"},
			absent: []string{"fsync"},
		},
		{
			name: "fast",
			fast: true,
			want: []string{"wal_level = 'logical'", "fsync = 'off'", "synchronous_commit = 'off'", "full_page_writes = 'off'"},
		},
		{
			name:  "extra settings last, sorted, quoted",
			extra: map[string]string{"wal_level": "replica", "application_name": "it's"},
			want:  []string{"wal_level = 'logical'", "application_name = 'it''s'", "wal_level = 'replica'"},
		},
		{name: "bad name", extra: map[string]string{"a = b\nfsync": "on"}, wantErr: true},
		{name: "bad value", extra: map[string]string{"work_mem": "1\nfsync = off"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := renderConf("/d", 5433, tc.fast, tc.extra)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("renderConf() = %q, want error", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rest := string(b)
			for _, line := range tc.want {
				i := strings.Index(rest, line+"\n")
				if i < 0 {
					t.Fatalf("missing or out of order %q in:\n%s", line, b)
				}
				rest = rest[i+len(line):]
			}
			for _, s := range tc.absent {
				if strings.Contains(string(b), s) {
					t.Fatalf("unexpected %q in:\n%s", s, b)
				}
			}
		})
	}
}

func TestSocketDirTooLong(t *testing.T) {
	if got := socketDir("/short"); got != "/short" {
		t.Fatalf("socketDir(short) = %q", got)
	}
	if got := socketDir("/" + strings.Repeat("x", 100)); got != "" {
		t.Fatalf("socketDir(long) = %q, want \"\"", got)
	}
}

// testConfig returns a Fast config in a fresh directory the postgres OS user
// can reach when the tests run as root (t.TempDir's parent is private).
func testConfig(t *testing.T) Config {
	t.Helper()
	binDir, err := FindBinDir()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir, err := os.MkdirTemp("", "localpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	return Config{DataDir: filepath.Join(dir, "data"), BinDir: binDir, Fast: true, Logger: logger}
}

func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return c
}

// runSQL runs sql in the cluster's postgres database and scans the one row
// it returns into dest, if any.
func runSQL(t *testing.T, c *Cluster, sql string, dest ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if len(dest) == 0 {
		_, err = conn.Exec(ctx, sql)
	} else {
		err = conn.QueryRow(ctx, sql).Scan(dest...)
	}
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func query(t *testing.T, c *Cluster, sql string) string {
	t.Helper()
	var s string
	runSQL(t, c, sql, &s)
	return s
}

func TestStartReuseStop(t *testing.T) {
	cfg := testConfig(t)
	// Missing parents are created too (and must stay enterable when root).
	cfg.DataDir = filepath.Join(cfg.DataDir, "nested", "pgdata")
	c := startCluster(t, cfg)
	for setting, want := range map[string]string{
		"wal_level":             "logical",
		"max_replication_slots": "64",
		"max_wal_senders":       "64",
		"max_connections":       "200",
		"fsync":                 "off",
	} {
		if got := query(t, c, "SHOW "+setting); got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	runSQL(t, c, "CREATE TABLE kept (id int)")

	ctx := context.Background()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("postmaster.pid after Stop: %v", err)
	}

	// The second start reuses the data dir: the table is still there.
	c2 := startCluster(t, cfg)
	if got := query(t, c2, "SELECT to_regclass('kept')::text"); got != "kept" {
		t.Fatalf("table after restart = %q, want kept", got)
	}
}

func TestStartAdoptsRunning(t *testing.T) {
	cfg := testConfig(t)
	c1 := startCluster(t, cfg)

	c2 := startCluster(t, cfg)
	if c1.Port() != c2.Port() {
		t.Fatalf("adopted port = %d, want %d", c2.Port(), c1.Port())
	}

	cfg.Port = c1.Port() + 1
	if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "already runs") {
		t.Fatalf("Start on another port = %v, want 'already runs' error", err)
	}

	// Either handle stops the server; the other's Stop then has nothing to do.
	if err := c2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c1.Stop(context.Background()); err != nil {
		t.Fatalf("Stop of an already stopped cluster: %v", err)
	}
}

func TestStartAfterCrash(t *testing.T) {
	tests := []struct {
		name  string
		crash func(t *testing.T, dataDir string)
	}{
		{
			name: "postmaster killed",
			crash: func(t *testing.T, dataDir string) {
				pf, _, _ := readPidFile(dataDir)
				killPid(t, pf.pid)
				waitGone(t, pf.pid)
			},
		},
		{
			name: "pid reused by another process",
			crash: func(t *testing.T, dataDir string) {
				pf, _, _ := readPidFile(dataDir)
				killPid(t, pf.pid)
				waitGone(t, pf.pid)
				// Point the stale file at this test process, which is alive
				// and not a postmaster.
				path := filepath.Join(dataDir, "postmaster.pid")
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				_, rest, _ := strings.Cut(string(b), "\n")
				if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"+rest), 0o600); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			c := startCluster(t, cfg)
			runSQL(t, c, "CREATE TABLE survived (id int)")
			// Fast means synchronous_commit=off: make the commit durable
			// before the crash.
			runSQL(t, c, "CHECKPOINT")
			tc.crash(t, c.dataDir)
			cfg.Port = c.Port()
			c2 := startCluster(t, cfg)
			if got := query(t, c2, "SELECT to_regclass('survived')::text"); got != "survived" {
				t.Fatalf("table after crash = %q, want survived", got)
			}
		})
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for ProcessExists(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartRefusesForeignDir(t *testing.T) {
	cfg := testConfig(t)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Start = %v, want 'not empty' error", err)
	}
}

func killPid(t *testing.T, pid int) {
	t.Helper()
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		t.Fatal(err)
	}
}
