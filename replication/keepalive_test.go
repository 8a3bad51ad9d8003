package replication

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowHandler blocks in its first HandleChange until release is closed, and
// counts the connections the stream went live on.
type slowHandler struct {
	*collector
	blocked chan struct{} // closed when the first change arrived
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	live    int
}

func (h *slowHandler) HandleChange(ctx context.Context, ch *Change) error {
	h.once.Do(func() {
		close(h.blocked)
		<-h.release
	})
	return h.collector.HandleChange(ctx, ch)
}

func (h *slowHandler) HandleStreaming(_ context.Context, streaming bool) {
	if streaming {
		h.mu.Lock()
		h.live++
		h.mu.Unlock()
	}
}

// TestSlowHandlerKeepsConnection runs a stream whose handler blocks for
// three times the server's wal_sender_timeout (2 s) while a thousand more
// rows of 10 KB arrive, more than the hand-off queue holds: the walsender must not
// time out, so the stream stays on its first connection and every row
// arrives once, in order.
func TestSlowHandlerKeepsConnection(t *testing.T) {
	dbURL, conn := newDatabase(t, `CREATE TABLE t (id int PRIMARY KEY, v text)`)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	const senderTimeout = 2 * time.Second
	// %20, not +: libpq-style URLs take + literally.
	opt := "options=" + strings.ReplaceAll(url.QueryEscape(fmt.Sprintf("-c wal_sender_timeout=%dms", senderTimeout.Milliseconds())), "+", "%20")
	if u.RawQuery != "" {
		opt = "&" + opt
	}
	u.RawQuery += opt

	h := &slowHandler{collector: newCollector(), blocked: make(chan struct{}), release: make(chan struct{})}
	startStream(t, u.String(), Config{}, h)
	exec(t, conn, "INSERT INTO t VALUES (0, 'first')")
	select {
	case <-h.blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("the first change did not arrive")
	}
	const rows = 1000
	// 10 MB in all: more than the hand-off queue holds, so the reader has
	// to stop reading and confirm while it waits.
	exec(t, conn, fmt.Sprintf("INSERT INTO t SELECT i, repeat('x', 10000) FROM generate_series(1, %d) i", rows))
	time.Sleep(3 * senderTimeout)
	close(h.release)
	h.wait(t, rows+1, 60*time.Second)
	// Rows sent before a timeout still arrive from the socket's buffers:
	// one more, sent now, shows whether the connection is still there.
	exec(t, conn, "INSERT INTO t VALUES (-1, 'last')")
	h.wait(t, rows+2, 30*time.Second)

	_, cursors := h.snapshot()
	if len(cursors) != rows+2 {
		t.Fatalf("got %d changes, want %d", len(cursors), rows+2)
	}
	checkOrdered(t, cursors)
	h.mu.Lock()
	live := h.live
	h.mu.Unlock()
	if live != 1 {
		t.Fatalf("the stream went live %d times: the server dropped the connection while the handler blocked", live)
	}
}

func TestParsePGDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1min", time.Minute, true}, {"2s", 2 * time.Second, true}, {"500ms", 500 * time.Millisecond, true},
		{"0", 0, true}, {"1500", 1500 * time.Millisecond, true}, {"1h", time.Hour, true},
		{"", 0, false}, {"abc", 0, false}, {"5 parsecs", 0, false},
	} {
		got, ok := parsePGDuration(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parsePGDuration(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if got := waitStatusInterval(2*time.Second, 10*time.Second); got != 500*time.Millisecond {
		t.Errorf("waitStatusInterval(2s, 10s) = %v, want 500ms", got)
	}
	if got := waitStatusInterval(0, 10*time.Second); got != 10*time.Second {
		t.Errorf("waitStatusInterval(disabled, 10s) = %v, want 10s", got)
	}
}
