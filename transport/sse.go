package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
)

// SSE: GET /realtime/v1/sse streams postgres_changes as Server-Sent Events
// (see feed.go for the request). Each change is an event
//
//	id: <cursor>
//	event: postgres_changes
//	data: {"schema":…,"table":…,"commit_timestamp":…,"eventType":…,"new":…,"old":…,"errors":…}
//
// whose data is what a realtime-js callback receives. A browser's
// EventSource reconnects by itself with Last-Event-ID, the last cursor it
// got, and the stream resumes after it with nothing lost or repeated while
// the cursor is inside the retention window; outside it, the stream starts
// with a "system" event of status "gap" (refetch, then carry on). The
// first event, "system" with status "ok" (Subscribed to PostgreSQL), is
// sent once every change committed after it will be delivered, and carries
// the stream's position as its id, so that even a reconnect before the
// first change resumes without a gap. A comment after SSEHeartbeat without
// an event (every SSEHeartbeat through a ResponseWriter) keeps proxies from
// closing an idle stream. A client that falls further behind
// than QueueBytes is disconnected; its EventSource reconnects and resumes.

// SSEHeartbeat is how long an SSE stream may be silent before it gets a
// comment line.
const SSEHeartbeat = 15 * time.Second

// A stream should cost what a WebSocket costs. Served as an ordinary
// net/http handler it holds the handler goroutine (with net/http's and the
// router's frames on its stack), net/http's background read goroutine and
// its connection buffers (a 4 KiB reader, a 4 KiB and a 2 KiB writer) for
// as long as it lasts, and every event wakes it. So an HTTP/1.x stream is
// hijacked and handed to wsconn as a raw stream (sse_stream.go): written
// by the flush pool, parked while idle, no goroutine of its own. Where
// hijacking is not possible (HTTP/2) the stream runs in the handler,
// through the ResponseWriter.

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	req, ok := s.parseFeed(w, r)
	if !ok {
		return
	}
	if !s.enterFeed() {
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = r.URL.Query().Get("last_event_id")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store, no-transform")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	if r.ProtoMajor == 1 {
		if conn, brw, err := http.NewResponseController(w).Hijack(); err == nil {
			s.serveSSEHijacked(r.Context(), conn, brw, h, req, after)
			return
		}
	}
	defer s.wg.Done()
	w.WriteHeader(http.StatusOK)
	st := s.openSSE(r.Context(), &sseResponse{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}, req, after)
	defer st.close()
	if st.sink != nil {
		st.loop()
	}
}

// sseSession is an open SSE stream: subscribed, its first events sent.
type sseSession struct {
	s       *Server
	ctx     context.Context
	cancel  context.CancelFunc
	out     sseOut
	sink    *feedSink      // nil when the stream ended while opening
	helpers sync.WaitGroup // the shutdown watch while opening, and the catch-up
}

// openSSE sends the retry line, waits for the change stream to be live,
// subscribes and sends the subscribed event (with the stream's position),
// and starts the catch-up. Its sink is nil when that failed; close must be
// called either way.
func (s *Server) openSSE(ctx context.Context, out sseOut, req *feedRequest, after string) *sseSession {
	st := &sseSession{s: s, out: out}
	st.ctx, st.cancel = context.WithCancel(ctx)
	opened := make(chan struct{})
	defer close(opened)
	st.helpers.Go(func() { // until the loop watches it, the server's shutdown ends the feed
		select {
		case <-s.stopping:
			st.cancel()
		case <-opened:
		case <-st.ctx.Done():
		}
	})
	buf := getSSEBuf()
	defer putSSEBuf(buf)
	*buf = append(*buf, "retry: 1000\n\n"...)
	if out.send(*buf) != nil || s.changes.WaitLive(st.ctx) != nil {
		return st
	}
	sink := newFeedSink(s.cfg.QueueBytes, &s.payloads)
	cu, from, err := s.subscribeFeed(st.ctx, sink, req, after)
	*buf = (*buf)[:0]
	if err != nil {
		*buf = appendSSE(*buf, "", "system", systemPayload("postgres_changes", "error", err.Error(), "sse"))
	}
	*buf = appendSSE(*buf, from, "system", subscribedOK("sse"))
	if out.send(*buf) != nil {
		s.changes.Unsubscribe(sink)
		return st
	}
	st.sink = sink
	if cu != nil {
		st.helpers.Go(func() { s.runFeedCatchUp(st.ctx, sink, cu) })
	}
	return st
}

// close ends the stream's helpers and its subscription.
func (st *sseSession) close() {
	st.cancel()
	st.helpers.Wait()
	if st.sink != nil {
		st.s.changes.Unsubscribe(st.sink)
	}
}

// loop sends events as they are queued, and a comment when idle, until
// the stream's context ends, the server stops, a write fails or the client
// falls too far behind.
func (st *sseSession) loop() {
	beat := time.NewTicker(SSEHeartbeat)
	defer beat.Stop()
	for {
		var evs []feedEvent
		overflow, ping := false, false
		select {
		case <-st.ctx.Done():
			return
		case <-st.s.stopping:
			return
		case <-beat.C:
			ping = true
		case <-st.sink.wake:
			evs, overflow = st.sink.take()
		}
		buf := getSSEBuf() // only now: an idle stream holds no buffer
		if ping {
			*buf = append(*buf, ": ping\n\n"...)
		}
		for _, ev := range evs {
			*buf = appendSSE(*buf, ev.cursor, ev.event(), ev.payload)
		}
		ok := st.out.send(*buf) == nil
		putSSEBuf(buf)
		if overflow {
			// The client resumes from its last event when it reconnects.
			st.s.stats.feedsSlow.Add(1)
			return
		}
		if !ok {
			return
		}
	}
}

// sseOut is where a stream writes: each send writes and flushes one batch
// of events, within the write timeout.
type sseOut interface {
	send(p []byte) error
}

// sseResponse writes through net/http's ResponseWriter.
type sseResponse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (o *sseResponse) send(p []byte) error {
	o.rc.SetWriteDeadline(time.Now().Add(o.timeout))
	if _, err := o.w.Write(p); err != nil {
		return err
	}
	return o.rc.Flush()
}

// sseBufs holds the buffers batches of events are encoded into, so that an
// idle stream holds none.
var sseBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getSSEBuf() *[]byte { b := sseBufs.Get().(*[]byte); *b = (*b)[:0]; return b }

// putSSEBuf returns b to the pool unless a big batch made it big.
func putSSEBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		sseBufs.Put(b)
	}
}

// runFeedCatchUp runs a feed's catch-up and queues a gap message when the
// cursor cannot be served.
func (s *Server) runFeedCatchUp(ctx context.Context, sink *feedSink, cu catchUp) {
	gap := cu.Gap()
	if gap == nil {
		if err := cu.Run(ctx, sink.waitForRoom); !errors.As(err, &gap) {
			return
		}
	}
	sink.pushSystem(gapPayload("sse", gap))
}

// appendSSE appends one event; data is JSON, so it is one line.
func appendSSE(b []byte, id, event string, data json.RawMessage) []byte {
	if id != "" {
		b = append(b, "id: "...)
		b = append(b, id...)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}
