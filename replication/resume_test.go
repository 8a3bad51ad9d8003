package replication

import (
	"context"
	"strings"

	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/pgtest"
)

// TestStreamResumeAfterConsumerFailure stops a consumer in the middle of a
// stream without a clean shutdown, then resumes from the same slot after the
// last change it took: every committed change arrives exactly once.
func TestStreamResumeAfterConsumerFailure(t *testing.T) {
	url, conn := newDatabase(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	const rows = 3000
	// A permanent slot keeps what the first consumer did not acknowledge.
	first := newCollector()
	first.failAt = 1234
	s, err := NewStream(Config{DatabaseURL: url, Slot: "resume_test", Logger: testLogger(t), StatusInterval: 50 * time.Millisecond}, first)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	pgtest.WaitForActiveSlot(t, url)
	for i := 1; i <= rows; i += 100 {
		exec(t, conn, "INSERT INTO t SELECT generate_series($1::int, $1::int + 99)", i)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "consumer crashed") {
			t.Fatalf("first consumer ended with %v, want its handler error", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("first consumer did not fail")
	}
	got1, cur1 := first.snapshot()
	if len(got1) != first.failAt-1 {
		t.Fatalf("first consumer took %d changes, want %d", len(got1), first.failAt-1)
	}

	second := newCollector()
	startStream(t, url, Config{Slot: "resume_test", StartAfter: cur1[len(cur1)-1]}, second)
	second.wait(t, rows-len(got1), 60*time.Second)
	_, cur2 := second.snapshot()
	all := append(cur1, cur2...)
	if len(all) != rows {
		t.Fatalf("got %d changes in all, want %d", len(all), rows)
	}
	checkOrdered(t, all)
}

// TestStreamSurvivesPostgresRestart restarts Postgres while rows are being
// written: the stream reconnects by itself and hands every committed row
// over exactly once.
func TestStreamSurvivesPostgresRestart(t *testing.T) {
	url, _ := newDatabase(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	col := newCollector()
	startStream(t, url, Config{Slot: "restart_test", MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}, col)

	var committed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		writeRows(ctx, url, &committed)
	}()
	col.wait(t, 200, 30*time.Second)
	pgtest.Restart(t)
	before := committed.Load()
	deadline := time.Now().Add(60 * time.Second)
	for committed.Load() < before+500 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-writerDone
	if c := committed.Load(); c < before+500 {
		t.Fatalf("writer committed only %d rows after the restart", c-before)
	}
	// The table is the truth: the writer's last commit may have raced its cancellation.
	var n, maxID int
	check := connect(t, url)
	if err := check.QueryRow(context.Background(), "SELECT count(*), max(id) FROM t").Scan(&n, &maxID); err != nil || n != maxID {
		t.Fatalf("table has %d rows up to id %d (%v): the writer skipped an id", n, maxID, err)
	}
	col.wait(t, n, 60*time.Second)
	time.Sleep(200 * time.Millisecond) // nothing more may arrive
	lines, cursors := col.snapshot()
	if len(lines) != n {
		t.Fatalf("got %d changes, want exactly the %d committed rows", len(lines), n)
	}
	checkOrdered(t, cursors)
	for i, l := range lines {
		if e := parseEvent(t, l); e.Record["id"] != float64(i+1) {
			t.Fatalf("change %d has id %v, want %d", i, e.Record["id"], i+1)
		}
	}
}

// writeRows inserts rows with ids 1, 2, 3... one transaction each, until ctx
// ends, reconnecting while Postgres is down. committed counts the rows whose
// commit was confirmed; a commit whose outcome is unknown is checked.
func writeRows(ctx context.Context, url string, committed *atomic.Int64) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil || conn.IsClosed() {
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			conn = c
		}
		next := committed.Load() + 1
		_, err := conn.Exec(ctx, "INSERT INTO t VALUES ($1)", next)
		if err == nil {
			committed.Store(next)
			continue
		}
		// The commit may have happened before the connection broke.
		conn.Close(context.Background())
		conn = nil
		for ctx.Err() == nil {
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			conn = c
			var exists bool
			if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM t WHERE id = $1)", next).Scan(&exists); err == nil {
				if exists {
					committed.Store(next)
				}
				break
			}
		}
	}
}

func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
