package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/pgtest"
)

// binary is the walcast command built for tests that need a real process
// (to kill it, say).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "walcast-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "walcast")
	if out, err := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", binary, ".")...).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build walcast: " + err.Error() + "\n" + string(out))
	}
	code := pgtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCmd runs a walcast command in-process and returns its exit code and output.
func runCmd(t *testing.T, timeout time.Duration, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func newDB(t *testing.T, schema string) (string, *pgx.Conn) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(context.Background(), schema); err != nil {
		t.Fatalf("schema: %v", err)
	}
	return url, conn
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"tail"}, 2, "--database-url"},
		{[]string{"tail", "--database-url", "postgres://x", "--after", "bad"}, 2, "parse cursor"},
		{[]string{"migrate"}, 2, "--database-url"},
		{[]string{"serve", "--log-level", "loud"}, 2, "log level"},
		{[]string{"serve", "--slot", "Bad-Name"}, 2, "slot name"},
		{[]string{"serve", "--database-url", "postgres://x"}, 2, "--jwt-secret"},
		{[]string{"serve", "--database-url", "postgres://x"}, 2, "--jwks-url"},
		{[]string{"serve", "--jwks", "{"}, 2, "--jwks: JWKS: want a JSON object"},
		{[]string{"serve", "--jwks", `{"keys":[]}`}, 2, `--jwks: JWKS: the set has no "keys"`},
		{[]string{"serve", "--jwks", "@/nonexistent/jwks.json"}, 2, "--jwks: open /nonexistent/jwks.json"},
		{[]string{"serve", "--jwks-url", "ftp://x"}, 2, "--jwks-url \"ftp://x\": want an http(s) URL"},
		{[]string{"serve", "--port", "70000"}, 2, "--port"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCmd(t, 10*time.Second, nil, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, time.Second, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "walcast ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestEnvFallback(t *testing.T) {
	code, _, stderr := runCmd(t, 10*time.Second, map[string]string{"WALCAST_TAIL_COUNT": "many"}, "tail", "--database-url", "postgres://x")
	if code != 2 || !strings.Contains(stderr, "WALCAST_TAIL_COUNT") {
		t.Errorf("exit %d, stderr %q; want the bad variable named", code, stderr)
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// grantToAnon is the SQL that lets anon tokens see table's changes: the
// role, created here when the database has not met walcast's migrations
// yet (serve applies them after the test's schema), and SELECT on it.
func grantToAnon(table string) string {
	return `DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$; GRANT SELECT ON ` + table + ` TO anon;`
}
