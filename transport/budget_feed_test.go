package transport

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// feedBudget is the MaxQueuedBytes of the feed budget tests: far below
// their per-feed queue (QueueBytes 16 MiB), so only the budget ends a
// feed.
const feedBudget = 64 << 10

func feedBudgetConfig() Config {
	return Config{QueueBytes: 16 << 20, MaxQueuedBytes: feedBudget, WriteTimeout: time.Minute}
}

// fillBudget delivers 1 KB changes to a feed whose client does not read
// until the budget has shed something, keeping the backlog above the
// budget (the socket's buffers take some of it at first).
func fillBudget(t *testing.T, e *testEnv) {
	t.Helper()
	i := 0
	waitFor(t, "the budget sheds the feed", func() bool {
		for e.s.Stats().Shed == 0 && e.s.Stats().QueuedBytes <= feedBudget {
			if i == 10000 {
				t.Fatalf("10 MB of changes to a feed that does not read, and %d bytes counted against the budget", e.s.Stats().QueuedBytes)
			}
			e.fake.deliver(bigChange(fmt.Sprint("c", i), 1000), 101)
			i++
		}
		return e.s.Stats().Shed > 0
	})
}

// awaitShed waits until the budget has ended the feed.
func awaitShed(t *testing.T, e *testEnv) {
	t.Helper()
	waitFor(t, "the budget sheds the feed", func() bool { return e.s.Stats().Shed > 0 })
}

// released checks that every byte the shed feed held is released once it
// is over: the total is back to zero, and it was shed, not closed as a
// slow consumer.
func released(t *testing.T, e *testEnv) {
	t.Helper()
	waitFor(t, "the subscription ends with the feed", func() bool { return e.fake.subscribers() == 0 })
	waitFor(t, "nothing counted against the budget", func() bool { return e.s.Stats().QueuedBytes == 0 })
	st := e.s.Stats()
	if st.Shed != 1 || st.SlowConsumers != 0 {
		t.Errorf("Shed %d, SlowConsumers %d; want 1 and 0", st.Shed, st.SlowConsumers)
	}
}

// A hijacked stream whose client stops reading counts against
// MaxQueuedBytes; past it the stream is closed (its response ends with
// the last chunk) and its queue released.
func TestQueueBudgetShedsStalledSSE(t *testing.T) {
	e := newEnv(t, feedBudgetConfig())
	c, br := dialSSE(t, e, "")
	readUntilSubscribed(t, br)
	waitFor(t, "subscribed", func() bool { return e.fake.subscribers() == 1 })
	fillBudget(t, e)
	awaitShed(t, e)
	// What was written before the close, then the end of the response.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading the rest of the stream: %v", err)
	}
	if !bytes.HasSuffix(rest, sseLastChunk) {
		t.Errorf("the stream did not end with the last chunk: ...%q", rest[max(0, len(rest)-40):])
	}
	released(t, e)
}

// deadlineResponse is a ResponseWriter that cannot be hijacked and whose
// write deadline works as a connection's: one in the past fails the write
// in progress.
type deadlineResponse struct{ pipeResponse }

func (d *deadlineResponse) SetWriteDeadline(t time.Time) error {
	if !t.After(time.Now()) {
		d.pw.CloseWithError(os.ErrDeadlineExceeded)
	}
	return nil
}

// serveStalled serves path to a ResponseWriter whose body the test reads
// from br; done is closed when the handler returns.
func serveStalled(t *testing.T, e *testEnv, path string) (br *bufio.Reader, done chan struct{}) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pr.Close() })
	req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, path, nil)
	w := &deadlineResponse{pipeResponse{h: http.Header{}, pw: pw}}
	done = make(chan struct{})
	go func() {
		defer close(done)
		defer pw.Close()
		e.s.Handler().ServeHTTP(w, req)
	}()
	return bufio.NewReaderSize(pr, 16), done
}

func awaitDone(t *testing.T, done chan struct{}, what string) {
	t.Helper()
	waitFor(t, what, func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}

// An SSE stream served through its ResponseWriter (HTTP/2) counts what it
// queued and what it is writing; past the budget its events are dropped,
// its write is cut short and the handler returns.
func TestQueueBudgetShedsStalledSSEWithoutHijack(t *testing.T) {
	e := newEnv(t, feedBudgetConfig())
	br, done := serveStalled(t, e, "/realtime/v1/sse?apikey="+token(t, time.Hour)+"&schema=public&table=t")
	readUntilSubscribed(t, br)
	br.ReadString('\n') // the blank line: the opening is written
	waitFor(t, "subscribed", func() bool { return e.fake.subscribers() == 1 })
	fillBudget(t, e)
	awaitShed(t, e)
	released(t, e)
	awaitDone(t, done, "the handler returns once its write is cut short")
}

// A long-poll whose answer its client does not read counts the answer and
// what its subscription queues meanwhile; the budget sheds it like a
// stream.
func TestQueueBudgetShedsStalledPoll(t *testing.T) {
	e := newEnv(t, feedBudgetConfig())
	br, done := serveStalled(t, e, "/realtime/v1/poll?apikey="+token(t, time.Hour)+"&schema=public&table=t&wait=20")
	waitFor(t, "subscribed", func() bool { return e.fake.subscribers() == 1 })
	e.fake.deliver(bigChange("c", 1000), 101)
	// The first byte of the answer: the poll is writing it, and its
	// subscription queues what follows.
	if _, err := br.ReadByte(); err != nil {
		t.Fatal(err)
	}
	fillBudget(t, e)
	awaitShed(t, e)
	released(t, e)
	awaitDone(t, done, "the handler returns once its write is cut short")
}

// A poll the budget sheds before it has answered answers 503 with
// Retry-After: its client polls again from the same cursor.
func TestShedPollAnswers503(t *testing.T) {
	e := newEnv(t, Config{})
	type answer struct {
		status int
		retry  string
	}
	got := make(chan answer, 1)
	go func() {
		resp, _ := httpGet(t, e.http.URL+"/realtime/v1/poll?apikey="+token(t, time.Hour)+"&broadcast=a&wait=20", nil)
		got <- answer{resp.StatusCode, resp.Header.Get("Retry-After")}
	}()
	var f *feedSink
	waitFor(t, "the poll is tracked", func() bool {
		e.s.mu.Lock()
		defer e.s.mu.Unlock()
		for k := range e.s.feeds {
			f = k
		}
		return f != nil
	})
	if !f.shed() {
		t.Fatal("shed reported the waiting poll over already")
	}
	if a := <-got; a.status != http.StatusServiceUnavailable || a.retry == "" {
		t.Fatalf("a shed poll answered %d (Retry-After %q), want 503 with Retry-After", a.status, a.retry)
	}
	if f.shed() {
		t.Error("a second shed reported success")
	}
}
