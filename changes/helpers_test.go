package changes

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/internal/testlog"
	"github.com/walcast/walcast/replication"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// recorder is a Sink that keeps every delivery, data slices as given.
type recorder struct {
	mu  sync.Mutex
	got []delivery
}

type delivery struct {
	ids  []uint64
	data []byte
}

func (r *recorder) DeliverChange(ids []uint64, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, delivery{ids: append([]uint64(nil), ids...), data: data})
}

// deliveries returns what r received, without the marker table's changes.
func (r *recorder) deliveries(t testing.TB) []delivery {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.got {
		if decode(t, d.data).Table != "marker" {
			out = append(out, d)
		}
	}
	return out
}

// data is the part of a delivered data object the tests look at.
type data struct {
	Schema          string          `json:"schema"`
	Table           string          `json:"table"`
	Type            string          `json:"type"`
	CommitTimestamp string          `json:"commit_timestamp"`
	Columns         []any           `json:"columns"`
	Record          *map[string]any `json:"record"`
	OldRecord       *map[string]any `json:"old_record"`
	Errors          []string        `json:"errors"`
	Cursor          string          `json:"cursor"`
}

func decode(t testing.TB, b []byte) data {
	t.Helper()
	var d data
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("delivered data is not JSON: %v\n%s", err, b)
	}
	return d
}

// fixture is a database with a publication, a dispatcher on it, and a
// running stream whose handler is the dispatcher.
type fixture struct {
	d      *Dispatcher
	pool   *pgxpool.Pool
	marker *recorder
	next   int
}

const testPublication = "walcast_test"

// newFixture creates the tables of schema, which must create
// testPublication, adds a table "marker" to it for sync, and starts a
// stream.
func newFixture(t *testing.T, schema string, cfg Config) *fixture {
	t.Helper()
	return newWrappedFixture(t, schema, cfg, nil)
}

// newWrappedFixture is newFixture with a stream whose handler is
// wrap(dispatcher) (the dispatcher itself when wrap is nil).
func newWrappedFixture(t *testing.T, schema string, cfg Config, wrap func(*Dispatcher) replication.Handler) *fixture {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, schema); err != nil {
		t.Fatalf("schema: %v", err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE marker (id int PRIMARY KEY);
		DO $$ BEGIN
			IF NOT (SELECT puballtables FROM pg_publication WHERE pubname = '`+testPublication+`') THEN
				ALTER PUBLICATION `+testPublication+` ADD TABLE marker;
			END IF;
		END $$`); err != nil {
		t.Fatalf("marker table: %v", err)
	}
	cfg.Pool, cfg.Publication, cfg.Logger = pool, testPublication, testLogger(t)
	f := &fixture{d: New(cfg), pool: pool, marker: &recorder{}}
	var h replication.Handler = f.d
	if wrap != nil {
		h = wrap(f.d)
	}
	startStream(t, url, h)
	f.subscribe(t, f.marker, Binding{Event: "INSERT", Schema: "public", Table: "marker"})
	return f
}

func startStream(t testing.TB, url string, d replication.Handler) (stop func()) {
	t.Helper()
	return startStreamWith(t, replication.Config{DatabaseURL: url, Publication: testPublication, Logger: testLogger(t)}, d)
}

func startStreamWith(t testing.TB, cfg replication.Config, d replication.Handler) (stop func()) {
	t.Helper()
	s, err := replication.NewStream(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("stream: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("stream did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	pgtest.WaitForActiveSlot(t, cfg.DatabaseURL)
	return stop
}

func (f *fixture) subscribe(t testing.TB, sink Sink, bindings ...Binding) []uint64 {
	t.Helper()
	ids, err := f.d.Subscribe(context.Background(), sink, bindings)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", bindings, err)
	}
	return ids
}

func (f *fixture) exec(t testing.TB, sql ...string) {
	t.Helper()
	for _, s := range sql {
		if _, err := f.pool.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// sync waits until the stream has dispatched every change committed so
// far: changes arrive in commit order, so once a marker row inserted now
// is delivered, so is everything before it.
func (f *fixture) sync(t testing.TB) {
	t.Helper()
	f.next++
	want := f.next
	if _, err := f.pool.Exec(context.Background(), "INSERT INTO marker VALUES ($1)", want); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		f.marker.mu.Lock()
		n := len(f.marker.got)
		f.marker.mu.Unlock()
		if n >= want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("marker %d not delivered within 30s", want)
}

func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelDebug) }

// refusedIndexes returns the positions of the bindings err refused.
func refusedIndexes(t *testing.T, err error) []int {
	t.Helper()
	if err == nil {
		return nil
	}
	var se *SubscribeError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is a %T, want *SubscribeError", err, err)
	}
	var out []int
	for _, r := range se.Refused {
		out = append(out, r.Index)
	}
	return out
}
