package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/localpg"
	"github.com/walcast/walcast/internal/pgtest"
)

// needLocalPostgres skips (fails under CI) without the server binaries.
func needLocalPostgres(t *testing.T) {
	t.Helper()
	if _, err := localpg.FindBinDir(); errors.Is(err, localpg.ErrNotFound) {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// TestSecondInstanceRefused: a second serve in the same data dir stops
// before touching anything, and the first one goes on serving.
func TestSecondInstanceRefused(t *testing.T) {
	needLocalPostgres(t)
	dir := pgtest.TempDir(t)
	first := startServe(t, dir, "--local-pg-port", "0", "--slot", "first_instance")
	waitStatus(t, first.url("/readyz"), http.StatusOK, time.Minute)
	// --port 0: the log names the port the server got, also in the URL
	// it prints for clients.
	if u, _ := first.logged("connect a client")["realtime_url"].(string); first.port == 0 || !strings.Contains(u, fmt.Sprintf(":%d/", first.port)) {
		t.Errorf("port %d, client URL %q", first.port, u)
	}

	cmd := exec.Command(binary, "serve", "--port", "0", "--local-pg-port", "0", "--slot", "second_instance")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "another walcast serve is running with the data dir") {
		t.Fatalf("second instance: %v, output %q; want exit 1 saying another one runs", err, out)
	}
	if strings.Contains(string(out), "adopting") || strings.Contains(string(out), "postgres") && strings.Contains(string(out), "stopped") {
		t.Errorf("second instance touched the cluster: %s", out)
	}
	waitStatus(t, first.url("/readyz"), http.StatusOK, 10*time.Second)
	first.stop(t)

	// With the first one gone, the data dir is free again.
	again := startServe(t, dir, "--local-pg-port", "0", "--slot", "first_instance")
	waitStatus(t, again.url("/readyz"), http.StatusOK, time.Minute)
}

// TestServeAsRootInPrivateDir runs the README's `go run ./cmd/walcast` the
// way root does in a clone under /root (mode 700): the postgres OS user
// cannot enter it, so the cluster lives under /var/lib/walcast, which the
// log and .walcast/pgdata-location name.
func TestServeAsRootInPrivateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs only as root: other users run the cluster as themselves, wherever the data dir is")
	}
	needLocalPostgres(t)
	private, err := os.MkdirTemp("", "walcast-private-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(private) })
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(private, "walcast")
	if err := os.Mkdir(clone, 0o755); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, clone, "--local-pg-port", "0", "--slot", "private_dir")
	rec := p.logged("the postgres OS user cannot enter the data dir, so the local cluster lives elsewhere")
	if rec == nil {
		t.Fatalf("no log saying where the cluster lives:\n%s", p.logText())
	}
	clusterDir, _ := rec["cluster_dir"].(string)
	if !strings.HasPrefix(clusterDir, sharedDataRoot+"/") {
		t.Fatalf("cluster_dir %q is not under %s", clusterDir, sharedDataRoot)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(clusterDir)) })
	note, err := os.ReadFile(filepath.Join(clone, ".walcast", "pgdata-location"))
	if err != nil || strings.TrimSpace(string(note)) != clusterDir {
		t.Errorf("pgdata-location: %q, %v; want %s", note, err, clusterDir)
	}
	waitStatus(t, p.url("/readyz"), http.StatusOK, time.Minute)
	running, _ := p.logged("local Postgres running")["url"].(string)
	conn, err := pgx.Connect(context.Background(), running)
	if err != nil {
		t.Fatal(err)
	}
	var dataDir string
	if err := conn.QueryRow(context.Background(), "SHOW data_directory").Scan(&dataDir); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	if dataDir != clusterDir {
		t.Errorf("the server's data_directory is %s, want %s", dataDir, clusterDir)
	}
	p.stop(t)
	if localpgRunning(clusterDir) {
		t.Error("the cluster still runs after serve stopped")
	}
}

func localpgRunning(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "postmaster.pid"))
	return err == nil
}
