package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// SSE: GET /realtime/v1/sse streams a feed as Server-Sent Events (see
// feed.go and feed_rooms.go for the request). Each change is an event
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
// closing an idle stream. A client that falls further behind than its
// queue is disconnected; its EventSource reconnects and resumes.
//
// A broadcast is "event: broadcast" and a presence event "event:
// presence_state" or "event: presence_diff" (roomFrameEvent), without id:
// Last-Event-ID resumes postgres_changes only, since broadcasts are not
// retained. The rooms' status, "system" events "Subscribed to broadcast"
// and "Subscribed to presence", follows the postgres_changes one, once the
// feed is in every room. When the token expires the stream ends with the
// system error a channel gets.

// The reconnection delay a stream starts with, and its heartbeat comment.
const (
	sseRetry         = "retry: 1000\n\n"
	sseHeartbeatLine = ": ping\n\n"
)

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
	release, ok := s.admitFeed(w, r)
	if !ok {
		return
	}
	hijacked := false // then the stream releases its place when it ends
	defer func() {
		if !hijacked {
			release()
		}
	}()
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
			hijacked = true
			s.serveSSEHijacked(r.Context(), conn, brw, h, req, after, release)
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
	expires time.Time      // the token's expiry, which ends the stream; zero: none
	leave   []func()       // what close undoes: the subscription, the rooms
	helpers sync.WaitGroup // the shutdown watch while opening, and the catch-up
}

// openSSE sends the retry line; with postgres_changes it waits for the
// change stream to be live, subscribes and sends the subscribed event
// (with the stream's position) and starts the catch-up; with rooms it
// joins them and sends their status, behind which whatever they deliver
// is queued. Its sink is nil when that failed; close must be called either
// way.
func (s *Server) openSSE(ctx context.Context, out sseOut, req *feedRequest, after string) *sseSession {
	st := &sseSession{s: s, out: out, expires: req.claims.Exp}
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
	*buf = append(*buf, sseRetry...)
	if out.send(*buf) != nil {
		return st
	}
	sink := newFeedSink(s.feedQueueBytes(req), &s.payloads)
	sink.abort = out.abort
	s.trackFeed(sink)
	st.leave = append(st.leave, func() { s.forgetFeed(sink) })
	var cu catchUp
	var ok bool
	var leave []func()
	*buf, cu, leave, ok = s.subscribeSSE(st.ctx, sink, req, after, (*buf)[:0])
	st.leave = append(st.leave, leave...)
	if !ok || out.send(*buf) != nil {
		return st
	}
	st.sink = sink
	if cu != nil {
		st.helpers.Go(func() { s.runFeedCatchUp(st.ctx, sink, cu) })
	}
	return st
}

// subscribeSSE subscribes sink as req asks, on both of a stream's paths:
// with postgres_changes it waits for the change stream to be live and
// subscribes from after; with rooms it joins them, and what they deliver
// from then on is queued behind the status, so that a client that has the
// status is in the rooms. It appends the opening status events to b (the
// subscribed event with the stream's position, the rooms' status) and
// returns what undoes the subscriptions, in order, and the catch-up, if
// any. ok is false when ctx ended before the change stream was live.
func (s *Server) subscribeSSE(ctx context.Context, sink *feedSink, req *feedRequest, after string, b []byte) (_ []byte, cu catchUp, leave []func(), ok bool) {
	if len(req.bindings) > 0 {
		if s.changes.WaitLive(ctx) != nil {
			return b, nil, nil, false
		}
		var from string
		var err error
		cu, from, err = s.subscribeFeed(ctx, sink, req, after)
		leave = append(leave, func() { s.changes.Unsubscribe(sink) })
		if err != nil {
			b = appendSSE(b, "", "system", systemPayload("postgres_changes", "error", err.Error(), "sse"))
		}
		b = appendSSE(b, from, "system", subscribedOK("sse"))
	}
	if len(req.topics) > 0 {
		leave = append(leave, s.joinFeedRooms(sink, req.topics))
		b = appendRoomsOK(b, req.topics)
	}
	return b, cu, leave, true
}

// appendTokenExpired appends the system error a channel gets when its
// token, which expired at exp, ends it: a stream's last event.
func appendTokenExpired(b []byte, exp time.Time) []byte {
	secs := int64(time.Since(exp) / time.Second)
	return appendSSE(b, "", "system", systemPayload("system", "error", fmt.Sprintf("Token has expired %d seconds ago", secs), "sse"))
}

// close ends the stream's helpers, its subscription and its rooms.
func (st *sseSession) close() {
	st.cancel()
	st.helpers.Wait()
	for i := len(st.leave) - 1; i >= 0; i-- {
		st.leave[i]()
	}
	st.leave = nil
}

// loop sends events as they are queued, and a comment when idle, until
// the stream's context ends, the server stops, a write fails or the client
// falls too far behind.
func (st *sseSession) loop() {
	beat := time.NewTicker(SSEHeartbeat)
	defer beat.Stop()
	var expired <-chan time.Time // the token's expiry ends the feed, as it closes a channel
	if !st.expires.IsZero() {
		t := time.NewTimer(time.Until(st.expires))
		defer t.Stop()
		expired = t.C
	}
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
		case <-expired:
			buf := getSSEBuf()
			*buf = appendTokenExpired(*buf, st.expires)
			st.out.send(*buf)
			putSSEBuf(buf)
			return
		case <-st.sink.wake:
			evs, overflow = st.sink.take()
		}
		if overflow {
			// The client resumes from its last event when it reconnects.
			// The queue budget counts the feeds it ends (shed).
			if !st.sink.wasShed() {
				st.s.stats.feedsSlow.Add(1)
			}
			return
		}
		buf := getSSEBuf() // only now: an idle stream holds no buffer
		if ping {
			*buf = append(*buf, sseHeartbeatLine...)
		}
		for _, ev := range evs {
			*buf = appendSSE(*buf, ev.cursor, ev.event(), ev.payload)
		}
		ok := st.out.send(*buf) == nil
		putSSEBuf(buf)
		st.sink.sent()
		if !ok {
			return
		}
	}
}

// sseOut is where a stream writes: each send writes and flushes one batch
// of events, within the write timeout.
type sseOut interface {
	send(p []byte) error
	// abort cuts short a send in progress, from another goroutine (the
	// queue budget's): the stream is over.
	abort()
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

// abort moves the write deadline to now. A ResponseWriter is not safe
// for concurrent use, but its deadline is: over HTTP/1 it is the
// connection's, over HTTP/2 a message to the connection's goroutine. A
// send that sets its deadline after this one still ends within the write
// timeout.
func (o *sseResponse) abort() { o.rc.SetWriteDeadline(time.Now()) }

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

// appendRoomsOK appends the status of a feed's rooms: one system event
// per extension, "Subscribed to broadcast" and "Subscribed to presence".
func appendRoomsOK(b []byte, ts []feedTopic) []byte {
	var bc, pr bool
	for _, t := range ts {
		bc, pr = bc || !t.presence, pr || t.presence
	}
	if bc {
		b = appendSSE(b, "", "system", systemPayload("broadcast", "ok", "Subscribed to broadcast", "sse"))
	}
	if pr {
		b = appendSSE(b, "", "system", systemPayload("presence", "ok", "Subscribed to presence", "sse"))
	}
	return b
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
