package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/internal/testlog"
	"github.com/walcast/walcast/replication"
	"github.com/walcast/walcast/transport"
)

// TestMain runs the tests, stops the shared Postgres cluster if one was
// started, and fails the run when goroutines were left behind: Close must
// stop every goroutine a client started.
func TestMain(m *testing.M) {
	before, _ := goroutines()
	code := pgtest.Run(m)
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	n, stacks := goroutines()
	for n > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n, stacks = goroutines()
	}
	if n > before && code == 0 {
		fmt.Fprintf(os.Stderr, "client: %d goroutines leaked (%d before, %d after):\n%s\n", n-before, before, n, stacks)
		code = 1
	}
	os.Exit(code)
}

func goroutines() (int, string) {
	buf := make([]byte, 1<<20)
	var kept []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "os/signal.loop") {
			kept = append(kept, g)
		}
	}
	return len(kept), strings.Join(kept, "\n\n")
}

var testSecret = []byte("super-secret-jwt-token-with-at-least-32-characters")

// signToken signs a token for role anon that expires after ttl.
func signToken(t testing.TB, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Sign(testSecret, map[string]any{"role": "anon", "exp": time.Now().Add(ttl).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelDebug) }

// env is a real walcast server in process: Postgres (a throwaway database),
// the replication stream, the changes dispatcher and a transport.Server
// behind an HTTP listener whose server can be restarted.
type env struct {
	t      *testing.T
	pool   *pgxpool.Pool // nil without Postgres
	dbURL  string
	d      *changes.Dispatcher
	http   *httptest.Server
	apikey string

	mu     sync.Mutex
	server *transport.Server
	h      atomic.Pointer[http.Handler]
}

// newEnv starts a server; withPG adds Postgres and a table
// todos (id int primary key, title text, owner text).
func newEnv(t *testing.T, withPG bool) *env {
	t.Helper()
	e := &env{t: t, apikey: signToken(t, time.Hour)}
	if withPG {
		url := pgtest.NewDatabase(t)
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		if _, err := pool.Exec(ctx, `CREATE TABLE todos (id int PRIMARY KEY, title text, owner text)`); err != nil {
			t.Fatal(err)
		}
		e.pool, e.dbURL = pool, url
		const pub = "walcast_client_test"
		e.d = changes.New(changes.Config{Pool: pool, Publication: pub, Logger: testLogger(t)})
		stream, err := replication.NewStream(replication.Config{DatabaseURL: url, Publication: pub, AddTables: true, Logger: testLogger(t)}, e.d)
		if err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- stream.Run(sctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("stream: %v", err)
			}
		})
		pgtest.WaitForActiveSlot(t, url)
	}
	e.startServer()
	e.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*e.h.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		e.mu.Lock()
		s := e.server
		e.mu.Unlock()
		s.Close()
		e.http.Close()
	})
	return e
}

func (e *env) startServer() {
	cfg := transport.Config{Verifier: auth.NewVerifier(testSecret), Logger: testLogger(e.t), PingInterval: -1}
	if e.d != nil {
		cfg.Changes = e.d
	}
	s := transport.NewServer(cfg)
	h := s.Handler()
	e.mu.Lock()
	e.server = s
	e.mu.Unlock()
	e.h.Store(&h)
}

// stop shuts the server down (every socket gets close 1012, as on a
// deploy); until start, connections are refused with 503.
func (e *env) stop() {
	e.mu.Lock()
	old := e.server
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := old.Shutdown(ctx); err != nil {
		e.t.Fatal(err)
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "restarting", http.StatusServiceUnavailable)
	})
	e.h.Store(&h)
}

// restart stops the server and puts a new one behind the same address.
func (e *env) restart() {
	e.stop()
	e.startServer()
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatal(err)
	}
}

// dial connects a client with fast test timings.
func (e *env) dial(url string, opts Options) *Client {
	e.t.Helper()
	if url == "" {
		url = e.http.URL
	}
	if opts.APIKey == "" {
		opts.APIKey = e.apikey
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(e.t)
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// recv waits for the next value of ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// none checks that nothing arrives on ch for a while.
func none[T any](t *testing.T, ch <-chan T, what string, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %+v", what, v)
	case <-time.After(d):
	}
}

func subscribe(t *testing.T, ch *Channel) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ch.Subscribe(ctx); err != nil {
		t.Fatalf("subscribe %s: %v", ch.Topic(), err)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func errorsAs[T error](err error, target *T) bool { return errors.As(err, target) }

// awaitRoom waits until broadcasts from `from` reach every channel of to.
// The server queues a join's reply before it puts the channel in its room,
// so a broadcast sent by another connection right after Subscribe
// returned can miss the new channel.
func awaitRoom(t *testing.T, from *Channel, to ...*Channel) {
	t.Helper()
	ready := make([]chan struct{}, len(to))
	for i, ch := range to {
		ready[i] = make(chan struct{}, 1)
		ch.OnBroadcast("test-room-ready", func(Broadcast) {
			select {
			case ready[i] <- struct{}{}:
			default:
			}
		})
	}
	ctx := testCtx(t)
	for i := range ready {
		for done := false; !done; {
			if err := from.Send(ctx, "test-room-ready", struct{}{}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ready[i]:
				done = true
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				t.Fatalf("%s never heard %s", to[i].Topic(), from.Topic())
			}
		}
	}
}
