package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/pgtest"
	walcastsql "github.com/walcast/walcast/sql"
)

// realtimeJS is the client version the scripts are written against; it is
// pinned in package.json.
const realtimeJS = "2.119.0"

const (
	scriptTimeout = 90 * time.Second  // the script's own limit (WALCAST_SCRIPT_TIMEOUT_MS)
	killTimeout   = 120 * time.Second // node is killed past this
	startTimeout  = 30 * time.Second  // walcast serve listening and streaming
	stopTimeout   = 15 * time.Second  // SIGTERM to exit
)

var vsns = []string{"1.0.0", "2.0.0"}

// schema is every test's database: items has REPLICA IDENTITY FULL, others
// the default (primary key) identity, hidden is not in the publication.
const schema = `
CREATE TABLE items (
	id int PRIMARY KEY,
	name text,
	qty int,
	price numeric,
	flag bool,
	note text,
	tags text[],
	meta jsonb,
	created timestamptz DEFAULT '2025-01-02 03:04:05.678+00'
);
ALTER TABLE items REPLICA IDENTITY FULL;
CREATE TABLE others (id int PRIMARY KEY, body text);
CREATE TABLE hidden (id int PRIMARY KEY, body text);
CREATE PUBLICATION walcast FOR TABLE items, others;
GRANT SELECT ON items, others, hidden TO anon, authenticated;
`

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// TestChanges: INSERT, UPDATE and DELETE reach the right bindings with the
// right eventType, new and old, for full and default replica identity; the
// "Subscribed to PostgreSQL" system message; one message per change.
func TestChanges(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		h.run(vsn, "changes.mjs", "/realtime/v1", map[string]func() error{
			"insert": h.sql(`INSERT INTO items (id, name, qty, price, flag, note, tags, meta) VALUES (1, 'apple', 5, 1.50, true, NULL, '{a,b}', '{"k": [1, 2]}')`),
			"update": h.sql(`UPDATE items SET qty = 6, note = 'ripe' WHERE id = 1`),
			"delete": h.sql(`DELETE FROM items WHERE id = 1`),
			"others": h.sql(
				`INSERT INTO others VALUES (1, 'x')`,
				`UPDATE others SET body = 'y' WHERE id = 1`,
				`DELETE FROM others WHERE id = 1`,
			),
		})
	})
}

// TestChannels: two channels on one socket (at /socket/websocket), and
// leaving one of them.
func TestChannels(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		h.run(vsn, "channels.mjs", "/socket", map[string]func() error{
			"insert-items":   h.sql(`INSERT INTO items (id, name) VALUES (10, 'ten')`),
			"insert-others":  h.sql(`INSERT INTO others VALUES (20, 'twenty')`),
			"insert-items-2": h.sql(`INSERT INTO items (id, name) VALUES (11, 'eleven')`),
		})
	})
}

// TestFilters: every operator family, not. forms, quoted values and
// filters joined by commas, on INSERT and on DELETE.
func TestFilters(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		h.run(vsn, "filters.mjs", "/realtime/v1", map[string]func() error{
			"insert": h.sql(
				`INSERT INTO items (id, name, qty, price, flag, note) VALUES
					(1, 'apple', 5, 1.50, true, NULL),
					(2, 'Banana', 10, 2.5, false, 'x'),
					(3, 'cherry', 15, 10, NULL, 'y'),
					(4, 'a,b', 20, NULL, true, NULL)`,
				`INSERT INTO others VALUES (1, 'sentinel')`,
			),
			"delete": h.sql(
				`DELETE FROM items WHERE id = 2`,
				`INSERT INTO others VALUES (2, 'sentinel')`,
			),
		})
	})
}

// TestErrors: bindings the server refuses (unknown column, table not in
// the publication, unknown table, unknown operator, bad value) give a
// system error while the channel stays subscribed.
func TestErrors(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		h.run(vsn, "errors.mjs", "/realtime/v1", map[string]func() error{
			"insert": h.sql(
				`INSERT INTO items (id, name, qty) VALUES (1, 'one', 1)`,
				`INSERT INTO hidden VALUES (1, 'not published')`,
			),
		})
	})
}

// TestTokenExpiry: a channel joined with an access token that expires in
// about 3 s gets a system error and is closed.
func TestTokenExpiry(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		h.run(vsn, "token.mjs", "/realtime/v1", nil)
	})
}

// TestRestart: SIGTERM and restart the server (same port, same slot) while
// subscribed; the client reconnects and rejoins by itself.
func TestRestart(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		h.run(vsn, "restart.mjs", "/realtime/v1", map[string]func() error{
			"insert-before": h.sql(`INSERT INTO items (id, name) VALUES (1, 'before')`),
			"restart": func() error {
				if err := h.srv.stop(); err != nil {
					return err
				}
				return h.srv.start()
			},
			"insert-after": h.sql(`INSERT INTO items (id, name) VALUES (2, 'after')`),
		})
	})
}

func forEachVSN(t *testing.T, fn func(t *testing.T, vsn string)) {
	for _, vsn := range vsns {
		t.Run("vsn="+vsn, func(t *testing.T) {
			t.Parallel()
			fn(t, vsn)
		})
	}
}

// ---- harness

// migrateMu serializes the migrations of parallel tests.
var migrateMu sync.Mutex

type harness struct {
	t     *testing.T
	node  string
	dbURL string
	db    *pgx.Conn
	srv   *server
}

// newHarness checks for node and node_modules, builds walcast, creates the
// test's database and schema and starts walcast serve.
func newHarness(t *testing.T) *harness {
	t.Helper()
	node := requireNode(t)
	bin := buildWalcast(t)
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	// The roles the schema grants to exist once the migrations ran (serve
	// applies them again, idempotently). Roles are the cluster's: parallel
	// tests must not create them at once.
	migrateMu.Lock()
	_, err = walcastsql.Apply(ctx, db)
	migrateMu.Unlock()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	if _, err := db.Exec(ctx, schema); err != nil {
		t.Fatalf("schema: %v", err)
	}
	srv := &server{
		t:      t,
		bin:    bin,
		dbURL:  url,
		port:   freePort(t),
		slot:   "walcast_conformance_" + randomHex(4),
		secret: randomHex(32),
	}
	t.Cleanup(srv.cleanup)
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, node: node, dbURL: url, db: db, srv: srv}
}

// sql returns a step that runs each statement in its own transaction.
func (h *harness) sql(stmts ...string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, s := range stmts {
			if _, err := h.db.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	}
}

// scriptLine is one JSON line of a script's stdout.
type scriptLine struct {
	Ready    string          `json:"ready"`
	Check    string          `json:"check"`
	OK       bool            `json:"ok"`
	Got      json.RawMessage `json:"got"`
	Want     json.RawMessage `json:"want"`
	Note     string          `json:"note"`
	Detail   json.RawMessage `json:"detail"`
	Done     bool            `json:"done"`
	Failures int             `json:"failures"`
}

// run runs testdata/realtime-js/<script> against the server at path
// (/realtime/v1 or /socket), answering its steps, and fails the test on
// every failed check, a missing "done" line or a non-zero exit status.
func (h *harness) run(vsn, script, path string, steps map[string]func() error) {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.node, filepath.Join(build.root, "testdata", "realtime-js", script))
	cmd.Dir = build.root
	cmd.Env = append(os.Environ(),
		"WALCAST_URL="+fmt.Sprintf("ws://127.0.0.1:%d%s", h.srv.port, path),
		"WALCAST_ANON_KEY="+signHS256(h.srv.secret, map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()}),
		"WALCAST_JWT_SECRET="+h.srv.secret,
		"DATABASE_URL="+h.dbURL,
		"VSN="+vsn,
		"WALCAST_SCRIPT_TIMEOUT_MS="+strconv.Itoa(int(scriptTimeout/time.Millisecond)),
	)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited { // the test stopped early: do not leave node behind
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	lines := make(chan string, 4096)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var (
		output  strings.Builder
		done    *scriptLine
		passed  int
		failed  int
		problem []string
	)
	for raw := range lines {
		output.WriteString(raw)
		output.WriteByte('\n')
		var l scriptLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			problem = append(problem, fmt.Sprintf("unreadable line from the script: %q", raw))
			continue
		}
		switch {
		case l.Ready != "":
			reply := map[string]string{"go": l.Ready}
			if fn, ok := steps[l.Ready]; !ok {
				reply["error"] = "no such step"
				problem = append(problem, fmt.Sprintf("script asked for unknown step %q", l.Ready))
			} else if err := fn(); err != nil {
				reply["error"] = err.Error()
				problem = append(problem, fmt.Sprintf("step %q: %v", l.Ready, err))
			}
			b, _ := json.Marshal(reply)
			if _, err := stdin.Write(append(b, '\n')); err != nil {
				problem = append(problem, fmt.Sprintf("answer step %q: %v", l.Ready, err))
			}
		case l.Check != "":
			if l.OK {
				passed++
				t.Logf("ok   %s", l.Check)
			} else {
				failed++
				msg := fmt.Sprintf("FAIL %s [vsn %s]\n     got:  %s", l.Check, vsn, l.Got)
				if len(l.Want) > 0 {
					msg += fmt.Sprintf("\n     want: %s", l.Want)
				}
				t.Error(msg)
			}
		case l.Note != "":
			t.Logf("note %s [vsn %s]: %s", l.Note, vsn, l.Detail)
		case l.Done:
			done = &l
		}
	}
	stdin.Close()
	waitErr := cmd.Wait()
	waited = true

	for _, p := range problem {
		t.Error(p)
	}
	switch {
	case ctx.Err() != nil:
		t.Errorf("%s: killed after %v", script, killTimeout)
	case waitErr != nil && failed == 0:
		t.Errorf("%s: %v", script, waitErr)
	}
	if done == nil {
		t.Errorf("%s: no {\"done\":true} line: the script did not finish", script)
	} else if done.Failures != failed {
		t.Errorf("%s: reports %d failed checks, %d seen", script, done.Failures, failed)
	}
	if passed+failed == 0 {
		t.Errorf("%s: made no checks", script)
	}
	if t.Failed() || os.Getenv("WALCAST_CONFORMANCE_TRACE") != "" {
		t.Logf("%s stdout (events and checks):\n%s", script, tail(output.String(), 200<<10))
		t.Logf("%s stderr (frames, > sent, < received):\n%s", script, tail(stderr.String(), 400<<10))
	}
}

// ---- walcast serve

type server struct {
	t      *testing.T
	bin    string
	dbURL  string
	port   int
	slot   string
	secret string

	cmd    *exec.Cmd
	exited chan struct{}
	starts int
	log    lockedBuffer
}

// start runs walcast serve and waits until it accepts connections and
// streams from its slot.
func (s *server) start() error {
	s.starts++
	fmt.Fprintf(&s.log, "---- walcast serve, start %d\n", s.starts)
	cmd := exec.Command(s.bin, "serve",
		"--database-url", s.dbURL,
		// The same address freePort checked: on all interfaces the port may
		// be taken by a client socket bound to another loopback address.
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(s.port),
		"--jwt-secret", s.secret,
		"--slot", s.slot,
		"--publication", "walcast",
		"--log-level", "debug",
	)
	if os.Getenv("WALCAST_TEST_WS_PORTABLE") == "1" {
		// The portable socket path, which CI runs besides the default.
		cmd.Args = append(cmd.Args, "--ws-parking=false", "--ws-raw-io=false")
	}
	cmd.Env = serverEnv()
	cmd.Stdout = &s.log
	cmd.Stderr = &s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start walcast serve: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(startTimeout)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("walcast serve exited before listening (%v):\n%s", cmd.ProcessState, s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("walcast serve not listening on %s after %v", addr, startTimeout)
		}
	}
	return s.waitStreaming(deadline)
}

// waitStreaming waits until the server's slot is active.
func (s *server) waitStreaming(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for {
		var active bool
		err := conn.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", s.slot).Scan(&active)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("slot %s not streaming: %w", s.slot, err)
		}
		if active {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("walcast serve exited (%v)", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("slot %s not streaming after %v", s.slot, startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and expects a clean exit within stopTimeout.
func (s *server) stop() error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return fmt.Errorf("walcast serve had exited already (%v)", s.cmd.ProcessState)
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("walcast serve still running %v after SIGTERM; killed", stopTimeout)
	}
	if !s.cmd.ProcessState.Success() {
		return fmt.Errorf("walcast serve exited with %v after SIGTERM", s.cmd.ProcessState)
	}
	return nil
}

func (s *server) cleanup() {
	t := s.t
	if err := s.stop(); err != nil {
		t.Error(err)
	}
	out := s.log.String()
	for _, bad := range []string{"panic:", "DATA RACE", "fatal error:"} {
		if strings.Contains(out, bad) {
			t.Errorf("walcast serve log contains %q", bad)
		}
	}
	if t.Failed() || os.Getenv("WALCAST_CONFORMANCE_TRACE") != "" {
		t.Logf("walcast serve log:\n%s", tail(out, 400<<10))
	}
}

// serverEnv is the test's environment without the variables walcast serve
// reads, so that only the flags configure it.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "WALCAST_") || name == "DATABASE_URL" || name == "JWT_SECRET" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ---- prerequisites

// build holds the repository root and the walcast binary, built once per
// test binary.
var build struct {
	once sync.Once
	root string
	dir  string
	bin  string
	err  error
}

func buildWalcast(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		if build.err = readInputs(build.root); build.err != nil {
			return
		}
		build.dir, build.err = os.MkdirTemp("", "walcast-conformance-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "walcast")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/walcast")
		cmd.Dir = build.root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/walcast: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// readInputs reads every file the server binary and the scripts are made
// of. The test binary imports none of them, so this is what tells go
// test's cache that a change to the server or a script invalidates cached
// results.
func readInputs(root string) error {
	return filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(name) {
		case ".go", ".mjs", ".sql", ".mod", ".sum":
		default:
			if name != "package-lock.json" {
				return nil
			}
		}
		_, err = os.ReadFile(path)
		return err
	})
}

func init() {
	root, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	build.root = root
}

// requireNode returns the path of node, or skips the test (fails it under
// CI) when node or the npm packages are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	problem := ""
	if err != nil {
		problem = "node is not installed (Node.js 20 or later is needed)"
	} else if v, err := packageVersion("@supabase/realtime-js"); err != nil {
		problem = fmt.Sprintf("@supabase/realtime-js is not installed (%v)", err)
	} else if v != realtimeJS {
		problem = fmt.Sprintf("node_modules has @supabase/realtime-js %s, want %s", v, realtimeJS)
	} else if _, err := packageVersion("ws"); err != nil {
		problem = fmt.Sprintf("ws is not installed (%v)", err)
	}
	if problem == "" {
		return node
	}
	msg := "conformance: " + problem + "; run `npm ci` in " + build.root
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (failing instead of skipping because CI is set)")
	}
	t.Skip(msg)
	return ""
}

func packageVersion(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(build.root, "node_modules", name, "package.json"))
	if err != nil {
		return "", err
	}
	var p struct{ Version string }
	if err := json.Unmarshal(b, &p); err != nil {
		return "", err
	}
	return p.Version, nil
}

// ---- small helpers

// signHS256 makes a JWT; it does not use the server's auth package, so
// the tests check it independently.
func signHS256(secret string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, _ := json.Marshal(claims)
	msg := head + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(mac.Sum(nil))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the last max bytes of s.
func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return "[...]\n" + s[len(s)-max:]
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers and readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPrivateChannels: private channels under policies on
// realtime.messages, with setAuth (private.mjs).
func TestPrivateChannels(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		if err := h.sql(`CREATE POLICY read_rooms ON realtime.messages FOR SELECT TO authenticated
				USING (realtime.topic() = 'room:' || auth.uid()::text OR realtime.topic() = 'lobby')`,
			`CREATE POLICY write_own ON realtime.messages FOR INSERT TO authenticated
				WITH CHECK (realtime.topic() = 'room:' || auth.uid()::text)`)(); err != nil {
			t.Fatal(err)
		}
		h.run(vsn, "private.mjs", "/realtime/v1", nil)
	})
}
