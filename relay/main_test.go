package relay

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/replication"
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	durableStop()
	os.Exit(code)
}

// messages is a replication.Handler that hands logical messages to h and
// ignores changes.
type messages struct{ h replication.MessageHandler }

func (messages) HandleChange(context.Context, *replication.Change) error { return nil }
func (messages) HandleCommit(context.Context, replication.Commit) error  { return nil }
func (m messages) HandleMessage(ctx context.Context, msg *replication.LogicalMessage) error {
	return m.h.HandleMessage(ctx, msg)
}

// startStream streams the database at url from slot into h until the test
// ends, and waits until it is live.
func startStream(t testing.TB, url, slot string, h replication.MessageHandler) {
	t.Helper()
	live := make(chan struct{})
	var once sync.Once
	probe := replication.MessageHandler(messageFunc(func(ctx context.Context, msg *replication.LogicalMessage) error {
		if msg.Prefix == "test.probe."+slot {
			once.Do(func() { close(live) })
			return nil
		}
		return h.HandleMessage(ctx, msg)
	}))
	s, err := replication.NewStream(replication.Config{DatabaseURL: url, Slot: slot}, messages{probe})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("stream %s: %v", slot, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	pool := newPool(t, url)
	for {
		if _, err := pool.Exec(context.Background(), "SELECT pg_logical_emit_message(true, $1, '')", "test.probe."+slot); err != nil {
			t.Fatal(err)
		}
		select {
		case <-live:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type messageFunc func(ctx context.Context, msg *replication.LogicalMessage) error

func (f messageFunc) HandleMessage(ctx context.Context, msg *replication.LogicalMessage) error {
	return f(ctx, msg)
}

func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// recorder is a node's own Publisher: it keeps copies of what it gets.
type recorder struct {
	mu   sync.Mutex
	got  []broadcast.Envelope
	seen chan struct{}
}

func newRecorder() *recorder { return &recorder{seen: make(chan struct{}, 1)} }

func (r *recorder) Publish(e *broadcast.Envelope) {
	c := *e
	c.Payload, c.Meta = append([]byte(nil), e.Payload...), append([]byte(nil), e.Meta...)
	r.mu.Lock()
	r.got = append(r.got, c)
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
}

func (r *recorder) envelopes() []broadcast.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]broadcast.Envelope(nil), r.got...)
}

// waitFor waits until the recorder holds n envelopes.
func (r *recorder) waitFor(t testing.TB, n int) []broadcast.Envelope {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := r.envelopes(); len(got) >= n {
			return got
		}
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("got %d envelopes, want %d", len(r.envelopes()), n)
		}
	}
}
