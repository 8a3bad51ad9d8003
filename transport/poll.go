package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Long-polling: GET /realtime/v1/poll takes the feed request of feed.go
// and since=<cursor> (the "cursor" of the previous answer; absent on the
// first poll). It answers as soon as events are there (after a short
// gathering pause), or after wait (default and cap 20 s) with none:
//
//	{"cursor":"<pass as since next time>","events":[{"event":"postgres_changes","cursor":…,"payload":{…}}],"gap":false}
//
// payload is what SSE's data carries for the same event. A loop of polls,
// each with the cursor of the one before, sees every matching change
// exactly once while the cursors stay inside the retention window; "gap":
// true says changes may have been lost before these (refetch). Broadcasts
// ("event":"broadcast", no cursor) are those published while a poll
// waits: nothing keeps them between polls. Presence takes a stream (SSE):
// a poll would get the whole state every time. What a poll gathers counts
// against the queue budget (Config.MaxQueuedBytes, budget.go); a poll the
// budget sheds before it answers gets 503 with Retry-After, and polls
// again from the same cursor.

// Long-poll timing.
const (
	maxPollWait = 20 * time.Second
	pollGather  = 20 * time.Millisecond // after the first event, to answer with more than one
)

type pollEvent struct {
	Event   string          `json:"event"`
	Cursor  string          `json:"cursor,omitempty"` // postgres_changes only
	Payload json.RawMessage `json:"payload"`
}

type pollAnswer struct {
	Cursor string      `json:"cursor"`
	Events []pollEvent `json:"events"`
	Gap    bool        `json:"gap"`
}

func (s *Server) servePoll(w http.ResponseWriter, r *http.Request) {
	release, ok := s.admitFeed(w, r)
	if !ok {
		return
	}
	defer release()
	req, ok := s.parseFeed(w, r)
	if !ok {
		return
	}
	for _, t := range req.topics {
		if t.presence {
			writeError(w, http.StatusBadRequest, "presence: a long-poll cannot follow presence; use the SSE feed, /realtime/v1/sse")
			return
		}
	}
	wait := maxPollWait
	if v := r.URL.Query().Get("wait"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs < 0 {
			writeError(w, http.StatusBadRequest, "wait: want seconds, at most 20")
			return
		}
		wait = min(time.Duration(secs*float64(time.Second)), maxPollWait)
	}
	if !s.enterFeed() {
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	defer s.wg.Done()
	if exp := req.claims.Exp; !exp.IsZero() {
		wait = min(wait, time.Until(exp)) // as a channel is closed when its token expires
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	sink := newFeedSink(s.feedQueueBytes(req), &s.payloads)
	// The write deadline below must not outlive the answer: without the
	// http.Server's WriteTimeout, net/http leaves it to the connection's
	// next request. Deferred first, it runs after forgetFeed.
	rc := http.NewResponseController(w)
	defer rc.SetWriteDeadline(time.Time{})
	var writing atomic.Bool
	sink.abort = func() { // the budget cuts the answer's write short; see sseResponse.abort
		if writing.Load() {
			rc.SetWriteDeadline(time.Now())
		}
	}
	s.trackFeed(sink)
	defer s.forgetFeed(sink)
	var cu catchUp
	ans := pollAnswer{Events: []pollEvent{}}
	if len(req.bindings) > 0 {
		if err := s.changes.WaitLive(ctx); err != nil {
			writeError(w, http.StatusServiceUnavailable, "replication is not streaming yet; retry")
			return
		}
		var err error
		cu, ans.Cursor, err = s.subscribeFeed(ctx, sink, req, r.URL.Query().Get("since"))
		defer s.changes.Unsubscribe(sink)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if len(req.topics) > 0 {
		defer s.joinFeedRooms(sink, req.topics)()
	}
	collect := func() {
		evs, _ := sink.take() // after an overflow the cursor stays before what was dropped
		for _, ev := range evs {
			if ev.system {
				ans.Gap = true
				continue
			}
			ans.Events = append(ans.Events, pollEvent{Event: ev.event(), Cursor: ev.cursor, Payload: ev.payload})
			if ev.cursor != "" {
				ans.Cursor = ev.cursor
			}
		}
	}
	if cu != nil {
		// The catch-up runs here and stops once half a queue is gathered:
		// the next poll goes on from the last cursor of this answer.
		gap := cu.Gap()
		if gap == nil {
			full := func(context.Context) error {
				if sink.queued() >= s.cfg.QueueBytes/2 || sink.wasShed() {
					return errPollFull
				}
				return nil
			}
			errors.As(cu.Run(ctx, full), &gap)
		}
		ans.Gap = gap != nil
	}
	collect()
	for len(ans.Events) == 0 && !ans.Gap && ctx.Err() == nil && !sink.wasShed() {
		select {
		case <-sink.wake:
		case <-ctx.Done():
		case <-s.stopping:
			cancel()
		}
		collect()
	}
	if len(ans.Events) > 0 && ctx.Err() == nil {
		// Give the rest of a transaction a moment to arrive.
		t := time.NewTimer(pollGather)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		collect()
	}
	if sink.wasShed() {
		// The queue budget dropped what was gathered: the client polls
		// again from the same cursor, later.
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "server overloaded: poll again with the same since")
		return
	}
	b, _ := json.Marshal(ans)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// Bounded like every write of a stream, and cut short by the budget
	// (a shed since the check above leaves it to the deadline).
	rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	writing.Store(true)
	w.Write(b)
}

// errPollFull stops a long-poll's catch-up once its answer is big enough.
var errPollFull = errors.New("answer full")
