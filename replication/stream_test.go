package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/internal/testlog"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// collector is a Handler that keeps every change as encoded JSON.
type collector struct {
	mu      sync.Mutex
	lines   []string
	cursors []Cursor
	commits int
	notify  chan struct{}
	failAt  int // return an error from HandleChange number failAt (1-based); 0: never
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) HandleChange(_ context.Context, ch *Change) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failAt > 0 && len(c.lines)+1 == c.failAt {
		return errors.New("consumer crashed")
	}
	c.lines = append(c.lines, string(AppendChange(nil, ch, EncodeOptions{})))
	c.cursors = append(c.cursors, ch.Cursor)
	return nil
}

func (c *collector) HandleCommit(context.Context, Commit) error {
	c.mu.Lock()
	c.commits++
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// wait blocks until n changes arrived.
func (c *collector) wait(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for c.count() < n {
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("got %d changes after %s, want %d", c.count(), timeout, n)
		}
	}
}

func (c *collector) snapshot() ([]string, []Cursor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...), append([]Cursor(nil), c.cursors...)
}

// event is the part of an encoded change the tests look at.
type event struct {
	Schema         string            `json:"schema"`
	Table          string            `json:"table"`
	Type           string            `json:"type"`
	Record         map[string]any    `json:"record"`
	OldRecord      map[string]any    `json:"old_record"`
	UnchangedToast []string          `json:"unchanged_toast"`
	Columns        []json.RawMessage `json:"columns"`
	Cursor         string            `json:"cursor"`
}

func parseEvent(t testing.TB, line string) event {
	t.Helper()
	var e event
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
	return e
}

func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelInfo) }

func exec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// newDatabase returns a fresh database with the given schema applied.
func newDatabase(t testing.TB, schema string) (string, *pgx.Conn) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if schema != "" {
		exec(t, conn, schema)
	}
	return url, conn
}

// startStream runs a stream with cfg (URL and logger filled in) until the test ends.
func startStream(t testing.TB, url string, cfg Config, h Handler) (stop func() error) {
	t.Helper()
	cfg.DatabaseURL = url
	cfg.Logger = testLogger(t)
	s, err := NewStream(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("stream did not stop within 30s")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stream: %v", err)
		}
	})
	pgtest.WaitForActiveSlot(t, url)
	return stop
}

func checkOrdered(t testing.TB, cursors []Cursor) {
	t.Helper()
	for i := 1; i < len(cursors); i++ {
		if !cursors[i-1].Less(cursors[i]) {
			t.Fatalf("cursor %d (%v) does not follow %v: out of order or repeated", i, cursors[i], cursors[i-1])
		}
	}
}

func TestStreamInsertUpdateDelete(t *testing.T) {
	url, conn := newDatabase(t, `CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int)`)
	col := newCollector()
	startStream(t, url, Config{}, col)
	exec(t, conn, "INSERT INTO items VALUES (1, 'a', 5)")
	exec(t, conn, "UPDATE items SET qty = 6 WHERE id = 1")
	exec(t, conn, "DELETE FROM items WHERE id = 1")
	col.wait(t, 3, 30*time.Second)
	lines, cursors := col.snapshot()
	checkOrdered(t, cursors)
	want := []struct {
		typ            string
		record, oldRec string
	}{
		{"INSERT", `{"id":1,"name":"a","qty":5}`, `null`},
		{"UPDATE", `{"id":1,"name":"a","qty":6}`, `{"id":1}`},
		{"DELETE", `null`, `{"id":1}`},
	}
	for i, w := range want {
		e := parseEvent(t, lines[i])
		rec, _ := json.Marshal(e.Record)
		old, _ := json.Marshal(e.OldRecord)
		if e.Type != w.typ || string(rec) != w.record || string(old) != w.oldRec || e.Table != "items" || e.Schema != "public" {
			t.Errorf("change %d = %s\nwant type %s record %s old_record %s", i, lines[i], w.typ, w.record, w.oldRec)
		}
	}
}

func TestStreamToast(t *testing.T) {
	for _, identity := range []string{"DEFAULT", "FULL"} {
		t.Run(identity, func(t *testing.T) {
			url, conn := newDatabase(t, `CREATE TABLE docs (id int PRIMARY KEY, small text, big text);
				ALTER TABLE docs ALTER COLUMN big SET STORAGE EXTERNAL;
				ALTER TABLE docs REPLICA IDENTITY `+identity)
			col := newCollector()
			startStream(t, url, Config{}, col)
			// 20 kB of incompressible text is stored out of line.
			exec(t, conn, "INSERT INTO docs SELECT 1, 'a', string_agg(md5(i::text), '') FROM generate_series(1, 640) i")
			exec(t, conn, "UPDATE docs SET small = 'b' WHERE id = 1")
			col.wait(t, 2, 30*time.Second)
			lines, _ := col.snapshot()
			e := parseEvent(t, lines[1])
			big, hasBig := e.Record["big"]
			switch identity {
			case "FULL":
				if s, _ := big.(string); len(s) != 640*32 || e.UnchangedToast != nil {
					t.Errorf("FULL: big has %d chars (want %d) and unchanged_toast %v (want none)", len(s), 640*32, e.UnchangedToast)
				}
			case "DEFAULT":
				if hasBig || len(e.UnchangedToast) != 1 || e.UnchangedToast[0] != "big" {
					t.Errorf("DEFAULT: record has big=%v, unchanged_toast %v; want big left out and named", hasBig, e.UnchangedToast)
				}
				if e.Record["small"] != "b" {
					t.Errorf("DEFAULT: small = %v, want b", e.Record["small"])
				}
			}
		})
	}
}

func TestStreamTruncate(t *testing.T) {
	url, conn := newDatabase(t, `CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)`)
	col := newCollector()
	startStream(t, url, Config{}, col)
	exec(t, conn, "INSERT INTO a VALUES (1); INSERT INTO b VALUES (1)")
	exec(t, conn, "TRUNCATE a, b")
	col.wait(t, 4, 30*time.Second)
	lines, cursors := col.snapshot()
	checkOrdered(t, cursors)
	var got []string
	for _, l := range lines[2:] {
		e := parseEvent(t, l)
		got = append(got, e.Type+" "+e.Table)
		if e.Record != nil || e.OldRecord != nil {
			t.Errorf("truncate event has rows: %s", l)
		}
	}
	if strings.Join(got, ",") != "TRUNCATE a,TRUNCATE b" {
		t.Errorf("got %v, want TRUNCATE a, TRUNCATE b", got)
	}
}

func TestStreamLargeAndManyTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 110k rows")
	}
	url, conn := newDatabase(t, `CREATE TABLE big (id int PRIMARY KEY, v text);
		CREATE TABLE small (id int PRIMARY KEY);
		CREATE PROCEDURE one_row_txns(n int) LANGUAGE plpgsql AS $$
		BEGIN FOR i IN 1..n LOOP INSERT INTO small VALUES (i); COMMIT; END LOOP; END $$`)
	col := newCollector()
	startStream(t, url, Config{}, col)
	const bigRows, smallTxns = 100_000, 10_000
	exec(t, conn, fmt.Sprintf("INSERT INTO big SELECT i, 'row ' || i FROM generate_series(1, %d) i", bigRows))
	exec(t, conn, fmt.Sprintf("CALL one_row_txns(%d)", smallTxns))
	col.wait(t, bigRows+smallTxns, 3*time.Minute)
	lines, cursors := col.snapshot()
	if len(lines) != bigRows+smallTxns {
		t.Fatalf("got %d changes, want %d", len(lines), bigRows+smallTxns)
	}
	checkOrdered(t, cursors)
	for i, l := range lines {
		var e struct {
			Table  string `json:"table"`
			Record struct {
				ID int `json:"id"`
			} `json:"record"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		wantTable, wantID := "big", i+1
		if i >= bigRows {
			wantTable, wantID = "small", i-bigRows+1
		}
		if e.Table != wantTable || e.Record.ID != wantID {
			t.Fatalf("change %d is %s id %d, want %s id %d", i, e.Table, e.Record.ID, wantTable, wantID)
		}
	}
	if col.commits != 1+smallTxns {
		t.Errorf("got %d commits, want %d", col.commits, 1+smallTxns)
	}
}
