package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/coder/websocket"
)

// TestSlowConsumerInRoom: 100 sockets in one broadcast room, one of which
// never reads, and a publisher socket sending broadcasts as realtime-js
// does (binary kind 3). The server must close the stalled socket with 4000
// once its queue (QueueBytes) and its socket buffers are full, while the
// other 99 get every message in order, and the heap must stay within what
// the queues may hold: a stalled socket must never make the server buffer
// the whole stream.
func TestSlowConsumerInRoom(t *testing.T) {
	const (
		subscribers = 100
		queueBytes  = 64 << 10
		// Messages in flight per socket at most: window × frame size stays
		// well under queueBytes, so a healthy reader can never overflow,
		// however the goroutines are scheduled.
		window = 64
	)
	messages := 20000
	if raceEnabled || testing.Short() {
		messages = 3000 // still three times what the stalled socket absorbs
	}
	// No idle timeout: the clients send no heartbeats. No message rate
	// limit: the publisher sends far more than 100 messages/s.
	// A long WriteTimeout: the stalled socket's blocked write must outlast
	// the time its queue takes to overflow, which the race detector stretches.
	// A small payload limit: the queue holds QueueBytes plus one maximal
	// broadcast (Config.queueBound), and the messages here are small.
	e := newEnv(t, Config{QueueBytes: queueBytes, MaxPayloadBytes: 1024, IdleTimeout: time.Hour, WriteTimeout: time.Minute, MessagesPerSecond: -1, Logger: slog.New(slog.DiscardHandler)})
	bound := e.s.cfg.queueBound()
	const topic = "realtime:room"
	room := roomKey(false, "room")
	join := `{"config":{"broadcast":{"self":false,"ack":false},"presence":{"key":"","enabled":false},"postgres_changes":[]}}`

	clients := make([]*client, subscribers)
	for i := range clients {
		vsn := phoenix.V1
		if i%2 == 1 {
			vsn = phoenix.V2
		}
		clients[i] = e.dial(t, vsn)
		if f := clients[i].join(topic, "1", join); f.Event != evReply || !strings.Contains(string(f.Payload), `"ok"`) {
			t.Fatalf("join %d: %s", i, f)
		}
	}
	stalled := clients[subscribers-1] // V2; from here on nobody reads it
	stalledConn := newestConn(e.s)
	pub := e.dial(t, phoenix.V2)
	if f := pub.join(topic, "1", join); f.Event != evReply || !strings.Contains(string(f.Payload), `"ok"`) {
		t.Fatalf("publisher join: %s", f)
	}
	if n := e.s.hub.Subscribers(room); n != subscribers+1 {
		t.Fatalf("room has %d subscribers, want %d", n, subscribers+1)
	}

	// The healthy readers check order and count what they got.
	healthy := clients[:subscribers-1]
	got := make([]atomic.Int64, len(healthy))
	errs := make(chan error, len(healthy))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var readers sync.WaitGroup
	for i, c := range healthy {
		readers.Go(func() { errs <- readInOrder(ctx, c.ws, messages, &got[i]) })
	}

	base := heapInuse(true)
	var peak, stalledPeak atomic.Uint64
	stopSampling := sample(10*time.Millisecond, func() {
		maxTo(&peak, heapInuse(false))
		maxTo(&stalledPeak, uint64(stalledConn.ws.QueuedBytes()))
	})

	// Once the server gave up on the stalled client, it reads again (as a
	// client back from a pause would) and must find an unbroken prefix of
	// the stream followed by the close frame. It reads at once: the close
	// frame waits behind the full socket, and coder/websocket gives up on
	// writing it after 5 s (the client then sees the socket just end).
	type drained struct {
		n      int
		status websocket.StatusCode
		err    error
	}
	stalledDone := make(chan drained, 1)
	var published atomic.Int64
	slowSeen := make(chan int64, 1)
	go func() {
		for e.s.Stats().SlowConsumers == 0 {
			if ctx.Err() != nil {
				stalledDone <- drained{err: errors.New("no slow consumer")}
				return
			}
			time.Sleep(time.Millisecond)
		}
		slowSeen <- published.Load()
		n, status, err := drainPrefix(stalled.ws)
		stalledDone <- drained{n, status, err}
	}()
	pad := strings.Repeat("x", 96) // ~128-byte payloads
	for i := range messages {
		if i%(window/2) == 0 {
			waitReaders(t, got, int64(i-window/2), errs)
		}
		pub.sendRaw(websocket.MessageBinary, binaryPush("1", "", topic, "tick", fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, pad)))
		published.Store(int64(i + 1))
	}
	waitReaders(t, got, int64(messages), errs)
	readers.Wait()
	stopSampling()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	select {
	case n := <-slowSeen:
		t.Logf("overflow after ~%d messages; heap in use %.1f MiB at start, %.1f MiB at peak", n, mib(base), mib(peak.Load()))
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatalf("no slow consumer after %d messages", messages)
	}
	d := <-stalledDone
	if d.err != nil {
		t.Error(d.err)
	}
	if d.status != StatusSlowConsumer {
		t.Errorf("stalled client closed with %v after %d messages, want %v", d.status, d.n, StatusSlowConsumer)
	}
	if d.n >= messages {
		t.Errorf("stalled client received all %d messages", d.n)
	}
	// The queue bound itself, sampled: an unbounded queue for the stalled
	// socket would hold ~250 bytes per message, which the heap bound below
	// would not notice at this length of run.
	if p := stalledPeak.Load(); p > uint64(bound) {
		t.Errorf("stalled socket's queue held %d bytes, over its bound %d (QueueBytes %d)", p, bound, queueBytes)
	}
	st := e.s.Stats()
	if st.SlowConsumers != 1 {
		t.Errorf("Stats().SlowConsumers = %d, want 1 (only the stalled socket)", st.SlowConsumers)
	}
	waitFor(t, "the stalled socket to be gone", func() bool { return e.s.Stats().Connections == subscribers })
	if got := e.s.hub.Subscribers(room); got != subscribers {
		t.Errorf("room has %d subscribers after the close, want %d", got, subscribers)
	}

	// Everything queued may be held at once: a full queue per socket. The
	// test's own clients and GC slack (GOGC lets the heap double between
	// collections) are on top of that. This catches gross growth, such as
	// a copy of each message per socket (99 × 20,000 × ~200 bytes).
	heapBound := base + 2*subscribers*uint64(bound) + 16<<20
	if p := peak.Load(); p > heapBound {
		t.Errorf("heap in use peaked at %.1f MiB, over the bound of %.1f MiB (%.1f MiB at start)", mib(p), mib(heapBound), mib(base))
	}
}
