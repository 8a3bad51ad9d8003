package transport

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/replication"
)

// A feed is a one-way stream over plain HTTP: SSE (sse.go) or
// long-polling (poll.go). Both take the same request: the apikey (query
// parameter, apikey / x-api-key header, or Authorization: Bearer, since an
// EventSource cannot set headers), and one or more subscriptions as query
// parameters:
//
//	schema, table, filter, event   one binding, as in a postgres_changes join
//	sub=schema.table:event:filter  more of them, repeated (event and filter optional)
//
// and the broadcast and presence rooms of feed_rooms.go. postgres_changes
// events carry their cursor, and a feed resumes after a cursor exactly as
// a WebSocket join with config.postgres_changes_resume does; broadcasts
// and presence are not retained, so they carry none and a resumed feed
// gets only those published since it reconnected.

// maxFeedBindings bounds the subscriptions of one feed, like the channels
// of one socket.
func (s *Server) maxFeedBindings() int { return s.cfg.MaxChannels }

// feedRequest is a parsed and authenticated feed request.
type feedRequest struct {
	claims   *auth.Claims
	bindings []changes.Binding
	topics   []feedTopic // broadcast and presence rooms, authorized
}

// parseFeed authenticates r and reads its bindings. On failure it has
// answered the request.
func (s *Server) parseFeed(w http.ResponseWriter, r *http.Request) (*feedRequest, bool) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	tok := apiKey(r)
	if tok == "" {
		tok = restToken(r)
	}
	claims, err := s.cfg.Verifier.Verify(tok)
	if err != nil {
		s.refuse(w, r, err.Error())
		return nil, false
	}
	q := r.URL.Query()
	var bs []changes.Binding
	if q.Has("schema") || q.Has("table") {
		bs = append(bs, changes.Binding{Event: q.Get("event"), Schema: q.Get("schema"), Table: q.Get("table"), Filter: q.Get("filter")})
	}
	for _, sub := range q["sub"] {
		b, err := parseFeedSub(sub)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return nil, false
		}
		bs = append(bs, b)
	}
	topics, err := s.parseFeedTopics(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	switch {
	case len(bs)+len(topics) == 0:
		writeError(w, http.StatusBadRequest, "no subscription: give schema and/or table (with optional filter and event), sub=schema.table:event:filter, broadcast=TOPIC or presence=TOPIC")
		return nil, false
	case len(bs)+len(topics) > s.maxFeedBindings():
		writeError(w, http.StatusBadRequest, errTooManyFeedSubs.Error())
		return nil, false
	}
	if len(bs) > 0 && s.changes == nil {
		writeError(w, http.StatusServiceUnavailable, errNoChanges.Error())
		return nil, false
	}
	if err := s.authorizeFeedTopics(topics, tok, claims); err != nil {
		refuseFeedTopic(w, err)
		return nil, false
	}
	viewer := viewerOf(claims)
	for i := range bs {
		bs[i].Viewer = viewer
	}
	return &feedRequest{claims: claims, bindings: bs, topics: topics}, true
}

// parseFeedSub reads schema.table:event:filter; the filter may contain
// colons.
func parseFeedSub(s string) (changes.Binding, error) {
	rel, rest, _ := strings.Cut(s, ":")
	event, filter, _ := strings.Cut(rest, ":")
	schema, table, ok := strings.Cut(rel, ".")
	if !ok {
		schema, table = "public", rel
	}
	if table == "" {
		return changes.Binding{}, errors.New("sub=" + s + ": want schema.table:event:filter (event and filter optional)")
	}
	return changes.Binding{Event: event, Schema: schema, Table: table, Filter: filter}, nil
}

// admitFeed counts a feed against MaxConnsPerIP as a WebSocket is
// counted: an open stream or a waiting poll holds a place from its
// address until release. On a refusal it has answered 429.
func (s *Server) admitFeed(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	ip := clientIP(r)
	if !s.perIP.admit(ip, s.cfg.MaxConnsPerIP) {
		s.handshakeRefused(r, http.StatusTooManyRequests, "too many connections from this address")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeError(w, http.StatusTooManyRequests, "Too many connections from this address")
		return nil, false
	}
	return func() { s.perIP.release(ip, s.cfg.MaxConnsPerIP) }, true
}

// enterFeed registers a feed with the server, which waits for it on
// shutdown; it reports false once the server is stopping.
func (s *Server) enterFeed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.wg.Add(1)
	return true
}

// feedSink is the changes.Sink of a feed: a queue of encoded events,
// bounded in bytes, drained by the feed's handler. DeliverChange never
// blocks; past the bound the feed is over (its client resumes from its
// last cursor). A hijacked SSE stream's sink puts its events straight into
// the stream's connection instead (sse_stream.go).
type feedSink struct {
	max   int
	cache *payloadCache

	mu         sync.Mutex
	events     []feedEvent // in order
	bytes      int
	sending    int           // payload bytes taken and not yet written (the queue budget counts them)
	overflow   bool          // nothing more is queued: the feed is over
	overloaded bool          // ended by the queue budget (shed), not by its own bound
	abort      func()        // cuts short the write in progress, for shed; set before the feed is tracked, cleared when it is forgotten
	wake       chan struct{} // 1-buffered: something was queued

	stream streamQueue // a hijacked SSE stream's (sse_stream.go)
}

// feedEvent is one event as a feed sends it: a change's cursor and the
// payload a realtime-js postgres_changes callback receives, a system
// message, or a broadcast or presence event (feed_rooms.go).
type feedEvent struct {
	cursor  string
	payload []byte
	system  bool   // a system message, not a change
	name    string // the event of a broadcast or presence event; "" for the others
	wire    []byte // the event as an SSE chunk, when already encoded (shared: never modified)
}

// event is the SSE event name.
func (e feedEvent) event() string {
	switch {
	case e.system:
		return "system"
	case e.name != "":
		return e.name
	}
	return evPostgresChange
}

// pushSystem queues a system message (a gap, say) after what is queued.
func (f *feedSink) pushSystem(payload []byte) { f.push(feedEvent{payload: payload, system: true}) }

func newFeedSink(max int, cache *payloadCache) *feedSink {
	return &feedSink{max: max, cache: cache, wake: make(chan struct{}, 1)}
}

// DeliverChange queues the event of one change.
func (f *feedSink) DeliverChange(_ []uint64, data []byte) {
	ev, err := f.cache.event(data, f.stream.conn != nil)
	if err != nil {
		return // not a change the dispatcher encodes; nothing to send
	}
	f.push(ev)
}

// push queues ev, of any kind. It never blocks.
func (f *feedSink) push(ev feedEvent) {
	if f.stream.conn != nil {
		f.pushStream(ev)
		return
	}
	f.mu.Lock()
	if f.overflow {
		f.mu.Unlock()
		return
	}
	if f.bytes+len(ev.payload) > f.max {
		f.overflow = true
		f.events, f.bytes = nil, 0
	} else {
		f.events = append(f.events, ev)
		f.bytes += len(ev.payload)
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// take returns the queued events and whether the queue overflowed. Their
// bytes count as being sent until sent.
func (f *feedSink) take() ([]feedEvent, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	evs := f.events
	f.sending += f.bytes
	f.events, f.bytes = nil, 0
	return evs, f.overflow
}

// sent notes that what take returned is written.
func (f *feedSink) sent() {
	f.mu.Lock()
	f.sending = 0
	f.mu.Unlock()
}

// backlog is what the sink holds for its client, for the queue budget:
// the queued events, those being written, and what a hijacked stream's
// sink holds back.
func (f *feedSink) backlog() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes + f.sending + f.stream.heldBytes
}

// shed ends a feed that runs in its handler for the queue budget: its
// queued events are dropped, nothing more is queued, its handler wakes to
// end it, and the write in progress, if any, is cut short (abort). It
// reports false when the feed was over already.
func (f *feedSink) shed() bool {
	f.mu.Lock()
	if f.overflow {
		f.mu.Unlock()
		return false
	}
	f.overflow, f.overloaded = true, true
	f.events, f.bytes, f.sending = nil, 0, 0
	if f.abort != nil {
		f.abort() // under f.mu: forgetFeed clears it, and none runs after the handler returned
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return true
}

// wasShed reports whether the queue budget ended the feed.
func (f *feedSink) wasShed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overloaded
}

// queued is how many bytes wait, for pacing a replay.
func (f *feedSink) queued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes
}

// waitForRoom lets a replay go on once the queue is a quarter full at most.
func (f *feedSink) waitForRoom(ctx context.Context) error {
	if f.stream.conn != nil {
		return f.waitForStreamRoom(ctx)
	}
	for f.queued() > f.max/4 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(replayPoll):
		}
	}
	return ctx.Err()
}

// subscribeFeed subscribes sink to req's bindings after the cursor the
// client gave, or, without one, after the stream's head: either way the
// catch-up it returns delivers what is committed until the subscription is
// live, so nothing falls between the position the feed reports and its
// first live change. It returns that position, and whether the client
// must hear about a gap (only a client that gave a cursor can have one;
// one that does not parse is one).
func (s *Server) subscribeFeed(ctx context.Context, sink *feedSink, req *feedRequest, after string) (catchUp, string, error) {
	from := s.changes.Head()
	if after != "" {
		c, perr := replication.ParseCursor(after)
		if perr != nil {
			_, cu, err := s.changes.SubscribeAfter(ctx, sink, req.bindings, from)
			if cu != nil && cu.Gap() == nil {
				cu = badCursorThen{cu}
			}
			return cu, from.String(), err
		}
		from = c
	}
	_, cu, err := s.changes.SubscribeAfter(ctx, sink, req.bindings, from)
	if after == "" && cu != nil && cu.Gap() != nil {
		cu = nil // nothing kept (retention off): live from now, nothing to report
	}
	return cu, from.String(), err
}

// badCursorThen reports a gap for a cursor that does not parse, after
// catching up from the head.
type badCursorThen struct{ catchUp }

func (b badCursorThen) Run(ctx context.Context, wait func(context.Context) error) error {
	if err := b.catchUp.Run(ctx, wait); err != nil {
		return err
	}
	return &changes.Gap{}
}
