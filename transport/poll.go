package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Long-polling: GET /realtime/v1/poll takes the feed request of feed.go
// and since=<cursor> (the "cursor" of the previous answer; absent on the
// first poll). It answers as soon as changes after since are there (after
// a short gathering pause), or after wait (default and cap 20 s) with
// none:
//
//	{"cursor":"<pass as since next time>","events":[{"cursor":…,"payload":{…}}],"gap":false}
//
// payload is what SSE's data and a realtime-js callback carry. A loop of
// polls, each with the cursor of the one before, sees every matching
// change exactly once while the cursors stay inside the retention window;
// "gap": true says changes may have been lost before these (refetch).

// Long-poll timing.
const (
	maxPollWait = 20 * time.Second
	pollGather  = 20 * time.Millisecond // after the first event, to answer with more than one
)

type pollEvent struct {
	Cursor  string          `json:"cursor"`
	Payload json.RawMessage `json:"payload"`
}

type pollAnswer struct {
	Cursor string      `json:"cursor"`
	Events []pollEvent `json:"events"`
	Gap    bool        `json:"gap"`
}

func (s *Server) servePoll(w http.ResponseWriter, r *http.Request) {
	req, ok := s.parseFeed(w, r)
	if !ok {
		return
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
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	if err := s.changes.WaitLive(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "replication is not streaming yet; retry")
		return
	}
	since := r.URL.Query().Get("since")
	sink := newFeedSink(s.cfg.QueueBytes, &s.payloads)
	cu, from, err := s.subscribeFeed(ctx, sink, req, since)
	defer s.changes.Unsubscribe(sink)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ans := pollAnswer{Cursor: from, Events: []pollEvent{}}
	collect := func() {
		evs, _ := sink.take() // after an overflow the cursor stays before what was dropped
		for _, ev := range evs {
			if ev.system {
				ans.Gap = true
				continue
			}
			ans.Events = append(ans.Events, pollEvent{Cursor: ev.cursor, Payload: ev.payload})
			ans.Cursor = ev.cursor
		}
	}
	if cu != nil {
		// The catch-up runs here and stops once half a queue is gathered:
		// the next poll goes on from the last cursor of this answer.
		gap := cu.Gap()
		if gap == nil {
			full := func(context.Context) error {
				if sink.queued() >= s.cfg.QueueBytes/2 {
					return errPollFull
				}
				return nil
			}
			errors.As(cu.Run(ctx, full), &gap)
		}
		ans.Gap = gap != nil
	}
	collect()
	for len(ans.Events) == 0 && !ans.Gap && ctx.Err() == nil {
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
	b, _ := json.Marshal(ans)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// errPollFull stops a long-poll's catch-up once its answer is big enough.
var errPollFull = errors.New("answer full")
