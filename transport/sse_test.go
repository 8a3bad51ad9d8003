package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hijackedSSE is a test client's open SSE stream.
type hijackedSSE struct {
	resp *http.Response
	br   *bufio.Reader
}

func openHijackedSSE(t *testing.T, e *testEnv) *hijackedSSE {
	t.Helper()
	resp, err := http.Get(e.http.URL + "/realtime/v1/sse?apikey=" + token(t, time.Hour) + "&schema=public&table=t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s, want 200", resp.Status)
	}
	return &hijackedSSE{resp: resp, br: bufio.NewReader(resp.Body)}
}

// event reads the next event (or comment block) up to its blank line.
func (s *hijackedSSE) event(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			t.Fatalf("read the stream: %v (so far %q)", err, b.String())
		}
		if line == "\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

// TestSSEStreamOverHijackedConn: an HTTP/1.1 stream (hijacked, framed by
// the server itself) carries the feed's headers, the retry line, the
// subscribed event with the stream's position, and changes as they come;
// the client hanging up ends the subscription.
func TestSSEStreamOverHijackedConn(t *testing.T) {
	e := newEnv(t, Config{})
	s := openHijackedSSE(t, e)
	for k, want := range map[string]string{
		"Content-Type":                "text/event-stream",
		"Cache-Control":               "no-cache, no-store, no-transform",
		"Access-Control-Allow-Origin": "*",
	} {
		if got := s.resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if got := s.resp.TransferEncoding; len(got) != 1 || got[0] != "chunked" {
		t.Errorf("transfer encoding %v, want chunked", got)
	}
	if ev := s.event(t); ev != "retry: 1000\n" {
		t.Fatalf("first block %q, want the retry line", ev)
	}
	if ev := s.event(t); !strings.HasPrefix(ev, "id: 0000000000000010-00000000\n") || !strings.Contains(ev, "event: system\n") || !strings.Contains(ev, "Subscribed to PostgreSQL") {
		t.Fatalf("second event %q, want system ok with the head as its id", ev)
	}
	waitFor(t, "subscribed", func() bool { return e.fake.subscribers() == 1 })
	for _, id := range []string{"0/20-0", "0/30-0"} {
		e.fake.deliver(`{"schema":"public","table":"t","type":"INSERT","commit_timestamp":"2026-01-01T00:00:00Z","record":{"id":1},"old_record":null,"errors":null,"cursor":"`+id+`"}`, 101)
		ev := s.event(t)
		want := "id: " + id + "\nevent: postgres_changes\ndata: {\"schema\":\"public\",\"table\":\"t\",\"commit_timestamp\":\"2026-01-01T00:00:00Z\",\"eventType\":\"INSERT\",\"new\":{\"id\":1},\"old\":{},\"errors\":null}\n"
		if ev != want {
			t.Fatalf("change event\n%q, want\n%q", ev, want)
		}
	}
	s.resp.Body.Close()
	waitFor(t, "the subscription ends after the client hangs up", func() bool { return e.fake.subscribers() == 0 })
}

// TestSSEServerCloseEndsStream: the server's shutdown ends a hijacked
// stream with the last chunk, so the client sees a complete response, and
// Close waits for it.
func TestSSEServerCloseEndsStream(t *testing.T) {
	e := newEnv(t, Config{})
	s := openHijackedSSE(t, e)
	s.event(t)
	s.event(t)
	done := make(chan error, 1)
	go func() { done <- e.s.Close() }()
	if rest, err := io.ReadAll(s.br); err != nil || len(rest) != 0 {
		t.Errorf("after Close: read %q, %v; want a clean end of the body", rest, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5 s")
	}
}

// TestSSEPipelinedBytesEndStream: a client sends nothing after its GET on
// an event stream; bytes after it end the stream rather than being read
// as a request.
func TestSSEPipelinedBytesEndStream(t *testing.T) {
	e := newEnv(t, Config{})
	c, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET /realtime/v1/sse?apikey=" + token(t, time.Hour) + "&schema=public&table=t HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(c, req+req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the stream went on after pipelined bytes: %q", got)
	}
	if strings.Contains(string(got), "Subscribed") {
		t.Errorf("a stream with pipelined bytes subscribed: %q", got)
	}
	waitFor(t, "no subscription left", func() bool { return e.fake.subscribers() == 0 })
}

// pipeResponse is a ResponseWriter that cannot be hijacked (as over
// HTTP/2), whose body the test reads from a pipe.
type pipeResponse struct {
	h  http.Header
	pw *io.PipeWriter
}

func (p *pipeResponse) Header() http.Header         { return p.h }
func (p *pipeResponse) WriteHeader(int)             {}
func (p *pipeResponse) Write(b []byte) (int, error) { return p.pw.Write(b) }
func (p *pipeResponse) Flush()                      {}

// TestSSEWithoutHijack: where the connection cannot be taken over, the
// stream runs in the handler through the ResponseWriter, with the same
// events, and ends with the request.
func TestSSEWithoutHijack(t *testing.T) {
	e := newEnv(t, Config{})
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/realtime/v1/sse?apikey="+token(t, time.Hour)+"&schema=public&table=t", nil)
	w := &pipeResponse{h: http.Header{}, pw: pw}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer pw.Close()
		e.s.Handler().ServeHTTP(w, req)
	}()
	s := &hijackedSSE{br: bufio.NewReader(pr)}
	if ev := s.event(t); ev != "retry: 1000\n" {
		t.Fatalf("first block %q, want the retry line", ev)
	}
	if ev := s.event(t); !strings.Contains(ev, "Subscribed to PostgreSQL") {
		t.Fatalf("second event %q, want system ok", ev)
	}
	if got := w.h.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type %q", got)
	}
	waitFor(t, "subscribed", func() bool { return e.fake.subscribers() == 1 })
	e.fake.deliver(`{"schema":"public","table":"t","type":"INSERT","commit_timestamp":"2026-01-01T00:00:00Z","record":{"id":2},"old_record":null,"errors":null,"cursor":"c1"}`, 101)
	if ev := s.event(t); !strings.HasPrefix(ev, "id: c1\nevent: postgres_changes\n") || !strings.Contains(ev, `"new":{"id":2}`) {
		t.Fatalf("change event %q", ev)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not return after its request ended")
	}
	if n := e.fake.subscribers(); n != 0 {
		t.Errorf("%d subscriptions left after the stream ended", n)
	}
}
