package changes

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/replication"
)

// itemIDs returns the ids of the items rows in what r received, in order,
// and the cursors they carried.
func itemIDs(t *testing.T, r *recorder) ([]int, []string) {
	t.Helper()
	var ids []int
	var cursors []string
	for _, row := range itemRows(t, r) {
		ids = append(ids, row.id)
		cursors = append(cursors, row.cursor)
	}
	return ids, cursors
}

type itemRow struct {
	id, room int
	cursor   string
}

func itemRows(t *testing.T, r *recorder) []itemRow {
	t.Helper()
	var rows []itemRow
	for _, d := range r.deliveries(t) {
		v := decode(t, d.data)
		if v.Table != "items" || v.Record == nil {
			continue
		}
		rec := *v.Record
		rows = append(rows, itemRow{id: int(rec["id"].(float64)), room: int(rec["room"].(float64)), cursor: v.Cursor})
	}
	return rows
}

func noWait(context.Context) error { return nil }

func mustCursor(t *testing.T, s string) replication.Cursor {
	t.Helper()
	c, err := replication.ParseCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A sink that resumes after a cursor gets every matching change after it
// exactly once, in order: the kept ones from Run, then live ones, also
// while inserts keep coming during the hand-over.
func TestResumeReplaysThenGoesLive(t *testing.T) {
	f := newFixture(t, testSchema, Config{})
	all := &recorder{}
	items := Binding{Event: "INSERT", Schema: "public", Table: "items"}
	f.subscribe(t, all, items)
	for i := 1; i <= 20; i++ {
		f.exec(t, fmt.Sprintf("INSERT INTO items VALUES (%d, %d, 'n')", i, i%2))
	}
	f.sync(t)
	_, cursors := itemIDs(t, all)
	after := mustCursor(t, cursors[4]) // the client saw rows 1..5

	for _, tc := range []struct {
		name   string
		filter string
		keep   func(room int) bool
	}{
		{"no filter", "", func(int) bool { return true }},
		{"filter", "room=eq.1", func(room int) bool { return room == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			b := items
			b.Filter = tc.filter
			_, res, err := f.d.SubscribeAfter(context.Background(), r, []Binding{b}, after)
			if err != nil || res.Gap() != nil {
				t.Fatalf("SubscribeAfter: %v, gap %v", err, res.Gap())
			}
			defer f.d.Unsubscribe(r)
			// Inserts race the replay.
			var wg sync.WaitGroup
			wg.Add(1)
			base := 1000 * (len(tc.filter) + 1)
			go func() {
				defer wg.Done()
				for i := 1; i <= 20; i++ {
					f.exec(t, fmt.Sprintf("INSERT INTO items VALUES (%d, %d, 'n')", base+i, i%2))
				}
			}()
			slow := func(ctx context.Context) error { time.Sleep(time.Millisecond); return ctx.Err() }
			if err := res.Run(context.Background(), slow); err != nil {
				t.Fatalf("Run: %v", err)
			}
			wg.Wait()
			f.sync(t)
			// Every matching row after the cursor, as the sink that was
			// there all along got them.
			got := itemRows(t, r)
			var want []itemRow
			for _, row := range itemRows(t, all)[5:] {
				if tc.keep(row.room) {
					want = append(want, row)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("resumed sink got rows %v, want %v", got, want)
			}
		})
	}
}

// A cursor older than what the window keeps is a gap; the subscription is
// live anyway.
func TestResumeGap(t *testing.T) {
	f := newFixture(t, testSchema, Config{Retention: &Retention{MaxBytes: 3 * (overhead + 16)}})
	all := &recorder{}
	items := Binding{Event: "INSERT", Schema: "public", Table: "items"}
	f.subscribe(t, all, items)
	for i := 1; i <= 10; i++ {
		f.exec(t, fmt.Sprintf("INSERT INTO items VALUES (%d, 1, 'n')", i))
	}
	f.sync(t)
	_, cursors := itemIDs(t, all)
	newest := func() replication.Cursor {
		_, cs := itemIDs(t, all)
		return mustCursor(t, cs[len(cs)-1])
	}
	for _, tc := range []struct {
		name  string
		after func() replication.Cursor
		gap   bool
	}{
		{"before the stream started", func() replication.Cursor { return replication.Cursor{} }, true},
		{"evicted", func() replication.Cursor { return mustCursor(t, cursors[1]) }, true},
		{"the newest", newest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			_, res, err := f.d.SubscribeAfter(context.Background(), r, []Binding{items}, tc.after())
			if err != nil {
				t.Fatal(err)
			}
			defer f.d.Unsubscribe(r)
			if (res.Gap() != nil) != tc.gap {
				t.Fatalf("gap = %v, want one: %v", res.Gap(), tc.gap)
			}
			if !tc.gap {
				if err := res.Run(context.Background(), noWait); err != nil {
					t.Fatal(err)
				}
			}
			id := 100 + len(tc.name)
			f.exec(t, "INSERT INTO items VALUES ("+strconv.Itoa(id)+", 1, 'live')")
			f.sync(t)
			if got, _ := itemIDs(t, r); fmt.Sprint(got) != fmt.Sprint([]int{id}) {
				t.Errorf("after resume: rows %v, want only the live %d", got, id)
			}
		})
	}
}

// The stream confirms only what left the window: a dispatcher started
// again on the same slot (a restarted node) gets the kept changes back
// and can replay them to a client that resumes.
func TestWindowSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	pool, cfg, items, cursors := tenRowsThenStop(t, "walcast_resume_test")

	second := New(Config{Pool: pool, Publication: testPublication, Logger: testLogger(t)})
	startStreamWith(t, cfg, second)
	marker := &recorder{}
	if _, err := second.Subscribe(ctx, marker, []Binding{{Event: "INSERT", Schema: "public", Table: "marker"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO marker VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the marker after the restart", func() bool {
		marker.mu.Lock()
		defer marker.mu.Unlock()
		return len(marker.got) == 1
	})
	r := &recorder{}
	_, res, err := second.SubscribeAfter(ctx, r, []Binding{items}, mustCursor(t, cursors[3]))
	if err != nil || res.Gap() != nil {
		t.Fatalf("SubscribeAfter after the restart: %v, gap %v", err, res.Gap())
	}
	if err := res.Run(ctx, noWait); err != nil {
		t.Fatal(err)
	}
	got, gotCursors := itemIDs(t, r)
	if fmt.Sprint(got) != fmt.Sprint([]int{5, 6, 7, 8, 9, 10}) || fmt.Sprint(gotCursors) != fmt.Sprint(cursors[4:]) {
		t.Errorf("replayed after the restart: rows %v cursors %v, want rows 5..10 with cursors %v", got, gotCursors, cursors[4:])
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gatedHandler holds the stream's first change until open is closed.
type gatedHandler struct {
	*Dispatcher
	open chan struct{}
}

func (g *gatedHandler) HandleChange(ctx context.Context, ch *replication.Change) error {
	<-g.open
	return g.Dispatcher.HandleChange(ctx, ch)
}

// A client can resume after a change that a restarted node has not re-read
// from its slot yet (its window is still filling): the changes up to its
// cursor then come in live, and must not reach it a second time.
func TestResumeAheadOfTheRestartedStream(t *testing.T) {
	ctx := context.Background()
	pool, cfg, items, cursors := tenRowsThenStop(t, "walcast_ahead_test")

	second := New(Config{Pool: pool, Publication: testPublication, Logger: testLogger(t)})
	gate := &gatedHandler{Dispatcher: second, open: make(chan struct{})}
	startStreamWith(t, cfg, gate)
	r := &recorder{}
	_, res, err := second.SubscribeAfter(ctx, r, []Binding{items}, mustCursor(t, cursors[3]))
	if err != nil || res.Gap() != nil {
		t.Fatalf("SubscribeAfter: %v, gap %v", err, res.Gap())
	}
	if err := res.Run(ctx, noWait); err != nil {
		t.Fatal(err)
	}
	close(gate.open) // the stream re-reads rows 1 to 10 now
	waitFor(t, "rows 5 to 10", func() bool { ids, _ := itemIDs(t, r); return len(ids) >= 6 })
	time.Sleep(200 * time.Millisecond) // a repeat would arrive now
	if got, _ := itemIDs(t, r); fmt.Sprint(got) != fmt.Sprint([]int{5, 6, 7, 8, 9, 10}) {
		t.Errorf("resumed after row 4 ahead of the stream: got rows %v, want 5..10", got)
	}
}

// tenRowsThenStop runs a dispatcher on a new database's slot, commits rows
// 1..10 to items (and a marker table for later syncs), waits until they
// were delivered and stops the stream, as a node that then restarts. It
// returns what a second dispatcher on the same slot needs, and the rows'
// cursors.
func tenRowsThenStop(t *testing.T, slot string) (*pgxpool.Pool, replication.Config, Binding, []string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, testSchema+`; CREATE TABLE marker (id int PRIMARY KEY); ALTER PUBLICATION `+testPublication+` ADD TABLE marker`); err != nil {
		t.Fatal(err)
	}
	items := Binding{Event: "INSERT", Schema: "public", Table: "items"}
	cfg := replication.Config{DatabaseURL: url, Publication: testPublication, Slot: slot, Logger: testLogger(t)}
	first := New(Config{Pool: pool, Publication: testPublication, Logger: testLogger(t)})
	stop := startStreamWith(t, cfg, first)
	all := &recorder{}
	if _, err := first.Subscribe(ctx, all, []Binding{items}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		if _, err := pool.Exec(ctx, fmt.Sprintf("INSERT INTO items VALUES (%d, 1, 'n')", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "10 rows before the restart", func() bool { ids, _ := itemIDs(t, all); return len(ids) == 10 })
	_, cursors := itemIDs(t, all)
	stop()
	return pool, cfg, items, cursors
}

// A client can come back to a restarted node before its stream has
// started: the dispatcher cannot tell yet whether the cursor is kept, so
// Run waits for the start instead of reporting a gap, then replays what
// the stream re-reads after the cursor, exactly once.
func TestResumeBeforeTheStreamStarted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, cfg, items, cursors := tenRowsThenStop(t, "walcast_early_test")

	second := New(Config{Pool: pool, Publication: testPublication, Logger: testLogger(t)})
	r := &recorder{}
	_, res, err := second.SubscribeAfter(ctx, r, []Binding{items}, mustCursor(t, cursors[3]))
	if err != nil || res.Gap() != nil {
		t.Fatalf("SubscribeAfter before the stream started: %v, gap %v; want a catch-up that waits", err, res.Gap())
	}
	ran := make(chan error, 1)
	go func() { ran <- res.Run(ctx, noWait) }()
	select {
	case err := <-ran:
		t.Fatalf("Run returned %v before the stream started", err)
	case <-time.After(100 * time.Millisecond):
	}
	startStreamWith(t, cfg, second)
	if err := <-ran; err != nil {
		t.Fatalf("Run after the start: %v, want the kept rows", err)
	}
	waitFor(t, "rows 5 to 10", func() bool { ids, _ := itemIDs(t, r); return len(ids) >= 6 })
	time.Sleep(200 * time.Millisecond) // a repeat would arrive now
	if got, _ := itemIDs(t, r); fmt.Sprint(got) != fmt.Sprint([]int{5, 6, 7, 8, 9, 10}) {
		t.Errorf("resumed after row 4 before the stream started: got rows %v, want 5..10", got)
	}
}
