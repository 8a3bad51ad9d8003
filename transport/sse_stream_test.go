package transport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/replication"
)

// dialSSE opens a hijacked stream from a raw socket with small buffers,
// so that a client that stops reading fills them after kilobytes.
// readUntilSubscribed reads an SSE stream up to the line of its
// "Subscribed to PostgreSQL" event.
func readUntilSubscribed(t testing.TB, br *bufio.Reader) {
	t.Helper()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream's opening: %v", err)
		}
		if strings.Contains(line, "Subscribed to PostgreSQL") {
			return
		}
	}
}

func dialSSE(t *testing.T, e *testEnv, lastID string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(smallSocketBuffer)
	req := "GET /realtime/v1/sse?apikey=" + token(t, time.Hour) + "&schema=public&table=t HTTP/1.1\r\nHost: x\r\n"
	if lastID != "" {
		req += "Last-Event-ID: " + lastID + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

func bigChange(cursor string, pad int) string {
	return `{"schema":"public","table":"t","type":"INSERT","commit_timestamp":"2026-01-01T00:00:00Z","record":{"pad":"` +
		strings.Repeat("x", pad) + `"},"old_record":null,"errors":null,"cursor":"` + cursor + `"}`
}

// A resumed stream whose replay is many times its queue bound, in batches
// of four times the bound between two waits for room, to a client
// that does not read at first: the replay waits for room, nothing is
// closed as a slow consumer, and every change arrives once, in order,
// each in a chunk of its own.
func TestSSEReplayWaitsForRoom(t *testing.T) {
	const n, pad = 600, 1000 // 600 KB against a 16 KiB queue
	e := newEnv(t, Config{QueueBytes: 16 << 10})
	e.fake.mu.Lock()
	e.fake.batch = 64 // 64 KB between two waits
	e.fake.replay = func(replication.Cursor) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = bigChange(fmt.Sprintf("r%05d", i), pad)
		}
		return out
	}
	e.fake.mu.Unlock()
	c, br := dialSSE(t, e, "0000000000000010-00000000")
	time.Sleep(300 * time.Millisecond) // the socket and the queue fill
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	next := 0
	for next < n {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d of %d changes: %v", next, n, err)
		}
		id, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "id: ")
		if !ok || !strings.HasPrefix(id, "r") {
			continue
		}
		if want := fmt.Sprintf("r%05d", next); id != want {
			t.Fatalf("change %s, want %s", id, want)
		}
		next++
	}
	if sc := e.s.Stats().SlowConsumers; sc != 0 {
		t.Fatalf("%d slow consumers: the replay overflowed the queue", sc)
	}
}

// A live stream whose client stops reading is closed as a slow consumer
// once its queue overflows; the subscription ends with it.
func TestSSESlowConsumerCloses(t *testing.T) {
	e := newEnv(t, Config{QueueBytes: 16 << 10, WriteTimeout: 500 * time.Millisecond})
	_, br := dialSSE(t, e, "")
	readUntilSubscribed(t, br)
	waitFor(t, "subscribed", func() bool { return e.fake.subscribers() == 1 })
	for i := 0; e.s.Stats().SlowConsumers == 0; i++ {
		if i > 10000 {
			t.Fatal("10,000 changes of 1 KB to a client that does not read, and no slow consumer")
		}
		e.fake.deliver(bigChange(fmt.Sprint("c", i), 1000), 101)
	}
	waitFor(t, "the subscription ends with the stream", func() bool { return e.fake.subscribers() == 0 })
}

// An idle stream gets the heartbeat comment, as its own chunk.
func TestSSEChunkFraming(t *testing.T) {
	if got, want := string(sseChunkOf([]byte(": ping\n\n"))), "8\r\n: ping\n\n\r\n"; got != want {
		t.Fatalf("heartbeat chunk %q, want %q", got, want)
	}
	ev := feedEvent{cursor: "c1", payload: []byte(`{"a":1}`)}
	body := "id: c1\nevent: postgres_changes\ndata: {\"a\":1}\n\n"
	if got, want := string(sseChunk(ev)), fmt.Sprintf("%x\r\n%s\r\n", len(body), body); got != want {
		t.Fatalf("event chunk %q, want %q", got, want)
	}
}
