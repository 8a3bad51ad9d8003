package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/client"
)

// A client following an SSE feed, and a Go client (package client)
// subscribed to postgres_changes, through a crash (kill -9) or a stop
// (SIGTERM) of serve, and its restart on the same slot, receives every row
// committed before, during and after the outage exactly once: serve
// acknowledges only what left its retention window, re-reads the window
// at start, and each client reconnects by itself and resumes after its
// last cursor.
func TestRestartLosesNothing(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			url, conn := newDB(t, `CREATE TABLE items (id int PRIMARY KEY); `+grantToAnon("items"))
			const secret = "a-test-secret-of-at-least-32-characters!"
			port := freeTCPPort(t)
			args := []string{"--database-url", url, "--jwt-secret", secret, "--port", strconv.Itoa(port),
				"--host", "127.0.0.1", "--slot", "walcast_restart_test"}
			dir := t.TempDir()
			srv := startServe(t, dir, args...)
			key, err := auth.Sign([]byte(secret), map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
			if err != nil {
				t.Fatal(err)
			}
			feed := newResumingFeed(fmt.Sprintf("http://127.0.0.1:%d/realtime/v1/sse?apikey=%s&table=items", port, key))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			go feed.follow(ctx)
			feed.waitSubscribed(t)
			goClient := subscribeGoClient(ctx, t, fmt.Sprintf("http://127.0.0.1:%d", port), key)

			next := 1
			insert := func(n int) {
				for end := next + n; next < end; next++ {
					if _, err := conn.Exec(ctx, "INSERT INTO items VALUES ($1)", next); err != nil {
						t.Fatalf("insert %d: %v", next, err)
					}
				}
			}
			insert(300)
			feed.waitFor(t, 100)
			goClient.waitFor(t, 100)
			// Transactions with only a logical message (realtime.send, the
			// nodes' own traffic) move the stream on without a change.
			for range 3 {
				if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(true, 'other.prefix', 'x')"); err != nil {
					t.Fatal(err)
				}
			}
			srv.cmd.Process.Signal(sig)
			<-srv.done
			insert(300) // committed while serve is down
			startServe(t, dir, args...)
			insert(300)
			feed.waitFor(t, next-1)
			goClient.waitFor(t, next-1)
			time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
			feed.checkOnceInOrder(t, "the SSE feed", next-1)
			goClient.checkOnceInOrder(t, "the Go client", next-1)
		})
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// rowLog is the ids a resuming client received, in order, with -1 for a
// gap the server reported, and how often it (re)subscribed.
type rowLog struct {
	mu         sync.Mutex
	got        []int
	subscribed bool
	n          int // connections made (SSE) or subscriptions completed (Go client)
}

func (l *rowLog) ids() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.got...)
}

func (l *rowLog) opens() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *rowLog) waitSubscribed(t *testing.T) {
	t.Helper()
	l.wait(t, "the subscription", func() bool { return l.subscribed })
}

func (l *rowLog) waitFor(t *testing.T, n int) {
	t.Helper()
	l.wait(t, fmt.Sprintf("%d rows", n), func() bool { return len(l.got) >= n })
}

func (l *rowLog) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l.mu.Lock()
		ok, n := cond(), len(l.got)
		l.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (have %d rows)", what, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOnceInOrder fails unless the log holds the ids 1..want, each once,
// in order.
func (l *rowLog) checkOnceInOrder(t *testing.T, who string, want int) {
	t.Helper()
	got := l.ids()
	if len(got) != want {
		t.Errorf("%s received %d rows, want each of the %d committed once", who, len(got), want)
	}
	for i, id := range got {
		if id != i+1 {
			t.Errorf("%s: row %d is id %d: rows out of order, lost or repeated (%d reconnections)", who, i, id, l.opens())
			return
		}
	}
	if l.opens() < 2 {
		t.Errorf("%s subscribed %d times; the test meant to cut its connection", who, l.opens())
	}
}

// resumingFeed follows an SSE feed as a browser's EventSource does:
// reconnecting after any failure with the last event id it received.
type resumingFeed struct {
	rowLog
	url  string
	last string // guarded by mu
}

func newResumingFeed(url string) *resumingFeed { return &resumingFeed{url: url} }

func (f *resumingFeed) follow(ctx context.Context) {
	for ctx.Err() == nil {
		f.once(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (f *resumingFeed) once(ctx context.Context) {
	req, _ := http.NewRequestWithContext(ctx, "GET", f.url, nil)
	f.mu.Lock()
	if f.last != "" {
		req.Header.Set("Last-Event-ID", f.last)
	}
	f.mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return
	}
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	r := bufio.NewReader(resp.Body)
	var id, event, data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case line == "" && event != "":
			f.take(id, event, data)
			id, event, data = "", "", ""
		}
	}
}

func (f *resumingFeed) take(id, event, data string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != "" {
		f.last = id
	}
	if event == "system" {
		f.subscribed = f.subscribed || strings.Contains(data, "Subscribed to PostgreSQL")
		if strings.Contains(data, `"gap"`) {
			f.got = append(f.got, -1) // shows up as a wrong id
		}
		return
	}
	var p struct{ New struct{ ID int } }
	if json.Unmarshal([]byte(data), &p) == nil {
		f.got = append(f.got, p.New.ID)
	}
}

// subscribeGoClient subscribes a Go client (package client) to the inserts
// into items. It reconnects and resumes by itself, with a short backoff so
// that it comes back while the test still inserts; a gap it reports is
// logged as id -1.
func subscribeGoClient(ctx context.Context, t *testing.T, baseURL, key string) *rowLog {
	t.Helper()
	l := &rowLog{}
	c, err := client.Dial(ctx, baseURL, client.Options{APIKey: key,
		Backoff: client.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := c.Channel("items", client.ChannelConfig{})
	ch.OnPostgresChanges(client.PostgresChangesFilter{Event: "INSERT", Table: "items"}, func(chg client.Change) {
		var row struct{ ID int }
		if err := json.Unmarshal(chg.Record, &row); err != nil {
			row.ID = -2
		}
		l.mu.Lock()
		l.got = append(l.got, row.ID)
		l.mu.Unlock()
	})
	ch.OnGap(func(g client.Gap) {
		t.Logf("the Go client got a gap: %+v", g)
		l.mu.Lock()
		l.got = append(l.got, -1)
		l.mu.Unlock()
	})
	ch.OnStatus(func(st client.Status, _ error) {
		if st == client.StatusSubscribed {
			l.mu.Lock()
			l.subscribed = true
			l.n++
			l.mu.Unlock()
		}
	})
	if err := ch.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}
