package transport

import (
	"bufio"
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
// first change resumes without a gap. A comment every SSEHeartbeat keeps
// proxies from closing an idle stream. A client that falls further behind
// than its queue is disconnected; its EventSource reconnects and resumes.
//
// A broadcast is "event: broadcast" and a presence event "event:
// presence_state" or "event: presence_diff" (roomFrameEvent), without id:
// Last-Event-ID resumes postgres_changes only, since broadcasts are not
// retained. The rooms' status, "system" events "Subscribed to broadcast"
// and "Subscribed to presence", follows the postgres_changes one, once the
// feed is in every room. When the token expires the stream ends with the
// system error a channel gets.

// SSEHeartbeat is how often an idle SSE stream gets a comment line.
const SSEHeartbeat = 15 * time.Second

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	release, ok := s.admitFeed(w, r)
	if !ok {
		return
	}
	defer release()
	req, ok := s.parseFeed(w, r)
	if !ok {
		return
	}
	if !s.enterFeed() {
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(r.Context())
	var helpers sync.WaitGroup // the shutdown watch and the catch-up
	defer func() {
		cancel()
		helpers.Wait()
	}()
	helpers.Go(func() { // the server's shutdown ends the feed
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store, no-transform")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	out := bufio.NewWriterSize(w, 4096)
	send := func() bool {
		rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		return out.Flush() == nil && rc.Flush() == nil
	}
	out.WriteString("retry: 1000\n\n")
	if !send() {
		return
	}
	sink := newFeedSink(s.feedQueueBytes(req), &s.payloads)
	if len(req.bindings) > 0 {
		if s.changes.WaitLive(ctx) != nil {
			return
		}
		after := r.Header.Get("Last-Event-ID")
		if after == "" {
			after = r.URL.Query().Get("last_event_id")
		}
		cu, from, err := s.subscribeFeed(ctx, sink, req, after)
		defer s.changes.Unsubscribe(sink)
		if err != nil {
			writeSSE(out, "", "system", systemPayload("postgres_changes", "error", err.Error(), "sse"))
		}
		writeSSE(out, from, "system", subscribedOK("sse"))
		if cu != nil {
			helpers.Go(func() { s.runFeedCatchUp(ctx, sink, cu) })
		}
	}
	if len(req.topics) > 0 {
		// What the rooms deliver from now on is queued behind the status
		// written here: a client that has the status is in the rooms.
		defer s.joinFeedRooms(sink, req.topics)()
		writeRoomsOK(out, req.topics)
	}
	if !send() {
		return
	}
	var expired <-chan time.Time // the token's expiry ends the feed, as it closes a channel
	if exp := req.claims.Exp; !exp.IsZero() {
		t := time.NewTimer(time.Until(exp))
		defer t.Stop()
		expired = t.C
	}

	beat := time.NewTicker(SSEHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			out.WriteString(": ping\n\n")
		case <-expired:
			secs := int64(time.Since(req.claims.Exp) / time.Second)
			writeSSE(out, "", "system", systemPayload("system", "error", fmt.Sprintf("Token has expired %d seconds ago", secs), "sse"))
			send()
			return
		case <-sink.wake:
			evs, overflow := sink.take()
			for _, ev := range evs {
				writeSSE(out, ev.cursor, ev.event(), ev.payload)
			}
			if overflow {
				// The client resumes from its last event when it reconnects.
				s.stats.feedsSlow.Add(1)
				send()
				return
			}
		}
		if !send() {
			return
		}
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

// writeRoomsOK writes the status of a feed's rooms: one system event per
// extension, "Subscribed to broadcast" and "Subscribed to presence".
func writeRoomsOK(out *bufio.Writer, ts []feedTopic) {
	var b, p bool
	for _, t := range ts {
		b, p = b || !t.presence, p || t.presence
	}
	if b {
		writeSSE(out, "", "system", systemPayload("broadcast", "ok", "Subscribed to broadcast", "sse"))
	}
	if p {
		writeSSE(out, "", "system", systemPayload("presence", "ok", "Subscribed to presence", "sse"))
	}
}

// writeSSE writes one event; data is JSON, so it is one line.
func writeSSE(w *bufio.Writer, id, event string, data json.RawMessage) {
	if id != "" {
		w.WriteString("id: ")
		w.WriteString(id)
		w.WriteByte('\n')
	}
	w.WriteString("event: ")
	w.WriteString(event)
	w.WriteString("\ndata: ")
	w.Write(data)
	w.WriteString("\n\n")
}
