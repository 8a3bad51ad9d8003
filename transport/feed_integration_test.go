package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/internal/pgtest"
)

// feedEnv is a server on a real pipeline with a table items(id, room).
type feedEnv struct {
	pool *pgxpool.Pool
	hs   *httptest.Server
	url  string // the server's base URL
	key  string

	mu    sync.Mutex
	conns map[net.Conn]struct{} // accepted, not seen closed
}

func newFeedEnv(t *testing.T) *feedEnv {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE items (id int PRIMARY KEY, room int)`); err != nil {
		t.Fatal(err)
	}
	const pub = "walcast_feed_test"
	d := changes.New(changes.Config{Pool: pool, Publication: pub, Logger: testLogger(t)})
	runStream(t, dbURL, pub, d)
	cfg := Config{Verifier: auth.NewVerifier(testSecret), Changes: d, Logger: testLogger(t), PingInterval: -1}
	if portableIO() {
		cfg.DisableParking, cfg.DisableRawIO = true, true
	}
	s := NewServer(cfg)
	e := &feedEnv{pool: pool, key: token(t, time.Hour), conns: make(map[net.Conn]struct{})}
	e.hs = httptest.NewUnstartedServer(s.Handler())
	// An SSE stream's connection is hijacked, which httptest forgets (its
	// CloseClientConnections does not reach it): the env tracks them all.
	e.hs.Config.ConnState = func(c net.Conn, st http.ConnState) {
		e.mu.Lock()
		defer e.mu.Unlock()
		switch st {
		case http.StateNew:
			e.conns[c] = struct{}{}
		case http.StateClosed:
			delete(e.conns, c)
		}
	}
	e.hs.Start()
	e.url = e.hs.URL
	t.Cleanup(func() {
		s.Close()
		e.hs.Close()
	})
	return e
}

// cutConnections closes every connection the server accepted, hijacked
// ones too, under their clients.
func (e *feedEnv) cutConnections() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		c.Close()
	}
}

func (e *feedEnv) insert(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := e.pool.Exec(context.Background(), "INSERT INTO items VALUES ($1, $1 % 2)", i); err != nil {
			t.Fatal(err)
		}
	}
}

type sseEvent struct{ id, event, data string }

// sseStream reads events from an open SSE response.
type sseStream struct {
	body io.Closer
	r    *bufio.Reader
}

func openSSE(t *testing.T, url, lastID string) *sseStream {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return &sseStream{body: resp.Body, r: bufio.NewReader(resp.Body)}
}

func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.event != "" {
				return ev
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

// nextChange skips system events and returns the id of the next row.
func (s *sseStream) nextChange(t *testing.T) (int, string) {
	t.Helper()
	for {
		ev := s.next(t)
		if ev.event != "postgres_changes" {
			if strings.Contains(ev.data, `"gap"`) {
				t.Fatalf("unexpected gap: %s", ev.data)
			}
			continue
		}
		var p struct {
			EventType string
			New       struct{ ID, Room int }
			Table     string
		}
		if err := json.Unmarshal([]byte(ev.data), &p); err != nil || p.EventType != "INSERT" || p.Table != "items" {
			t.Fatalf("event data %s (%v)", ev.data, err)
		}
		return p.New.ID, ev.id
	}
}

// An SSE stream that is cut and reopened with Last-Event-ID, as
// EventSource does, gets every row committed meanwhile exactly once.
func TestSSEResumesAfterCut(t *testing.T) {
	e := newFeedEnv(t)
	url := e.url + "/realtime/v1/sse?apikey=" + e.key + "&schema=public&table=items&filter=room=eq.1"
	s := openSSE(t, url, "")
	if ev := s.next(t); ev.event != "system" || !strings.Contains(ev.data, "Subscribed to PostgreSQL") || ev.id == "" {
		t.Fatalf("first event %+v, want the subscribed status with an id", ev)
	}
	e.insert(t, 1, 10)
	var got []int
	var last string
	for len(got) < 5 {
		id, cursor := s.nextChange(t)
		got, last = append(got, id), cursor
	}
	s.body.Close()
	e.insert(t, 11, 20) // committed while no stream is open
	s = openSSE(t, url, last)
	e.insert(t, 21, 30)
	for len(got) < 15 {
		id, _ := s.nextChange(t)
		got = append(got, id)
	}
	want := []int{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows %v, want each odd row once: %v", got, want)
	}
	s.body.Close()

	// A cursor from before the stream began is a gap, said first.
	s = openSSE(t, url, "0000000000000001-00000001")
	defer s.body.Close()
	var sawGap bool
	for !sawGap {
		ev := s.next(t)
		sawGap = ev.event == "system" && strings.Contains(ev.data, `"status":"gap"`)
	}
}

// A loop of long-polls, each from the cursor of the one before, gets
// every row exactly once.
func TestLongPollLoop(t *testing.T) {
	e := newFeedEnv(t)
	base := e.url + "/realtime/v1/poll?apikey=" + e.key + "&table=items&wait=2"
	var got []int
	cursor := ""
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 60; i++ {
			e.insert(t, i, i)
			if i%20 == 0 {
				time.Sleep(300 * time.Millisecond)
			}
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < 60 && time.Now().Before(deadline) {
		url := base
		if cursor != "" {
			url += "&since=" + cursor
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		var ans struct {
			Cursor string
			Gap    bool
			Events []struct {
				Cursor  string
				Payload struct{ New struct{ ID int } }
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("poll: %d %v", resp.StatusCode, err)
		}
		if ans.Gap {
			t.Fatalf("gap after cursor %q", cursor)
		}
		for _, ev := range ans.Events {
			got = append(got, ev.Payload.New.ID)
		}
		if ans.Cursor == "" {
			t.Fatal("answer without a cursor")
		}
		cursor = ans.Cursor
	}
	<-done
	var want []int
	for i := 1; i <= 60; i++ {
		want = append(want, i)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("polled rows %v, want 1..60 once each", got)
	}
}
