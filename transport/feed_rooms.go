package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/phoenix"
	"github.com/walcast/walcast/replication"
)

// A feed may also listen to broadcast and presence rooms, read-only:
//
//	broadcast=TOPIC   the room's broadcasts, repeated for more rooms
//	presence=TOPIC    the room's presence_state, then its presence_diffs (SSE only)
//	private=true      the feed's rooms are the private ones (default false)
//
// TOPIC is a channel's sub-topic ("room1"), or its whole topic
// ("realtime:room1"), as realtime-js names it. A room is entered exactly as
// a WebSocket join enters it: the same topic limits, the Authorizer asked
// with the feed's token for every room (so a private room takes the same
// RLS read policy), the same hub room and presence store. A feed cannot
// broadcast or track.

// Feed event names besides postgres_changes and system.
const (
	feedEvBroadcast     = evBroadcast
	feedEvPresenceState = evPresenceState
	feedEvPresenceDiff  = evPresenceDiff
)

// feedTopic is one broadcast or presence subscription of a feed.
type feedTopic struct {
	sub      string // without realtime:
	private  bool
	presence bool // presence_state and diffs, not broadcasts
}

// subTopicProblem says why sub (a topic without realtime:) cannot be
// joined, in the words of a join refusal, or returns "".
func (s *Server) subTopicProblem(sub string) string {
	switch {
	case sub == "":
		return "TopicNameRequired: You must provide a topic name"
	case len(topicPrefix)+len(sub) > s.cfg.MaxTopicBytes:
		return fmt.Sprintf("TopicTooLong: A topic may have at most %d bytes, this one has %d", s.cfg.MaxTopicBytes, len(topicPrefix)+len(sub))
	}
	return ""
}

// parseFeedTopics reads the broadcast, presence and private parameters;
// duplicates are dropped. Its error is the 400 message.
func (s *Server) parseFeedTopics(q map[string][]string) ([]feedTopic, error) {
	private := false
	if v := q["private"]; len(v) > 0 {
		p, err := strconv.ParseBool(v[0])
		if err != nil || len(v) > 1 {
			return nil, errors.New("private: want one private=true or private=false")
		}
		private = p
	}
	if n := len(q["broadcast"]) + len(q["presence"]); n > s.maxFeedBindings() {
		return nil, errTooManyFeedSubs
	}
	var ts []feedTopic
	seen := make(map[feedTopic]bool)
	for _, kind := range [...]struct {
		param    string
		presence bool
	}{{"broadcast", false}, {"presence", true}} {
		for _, v := range q[kind.param] {
			sub := strings.TrimPrefix(v, topicPrefix)
			if !utf8.ValidString(sub) {
				return nil, fmt.Errorf("%s: a topic must be valid UTF-8", kind.param)
			}
			if why := s.subTopicProblem(sub); why != "" {
				return nil, fmt.Errorf("%s=%.64q: %s", kind.param, v, why)
			}
			t := feedTopic{sub: sub, private: private, presence: kind.presence}
			if !seen[t] {
				seen[t] = true
				ts = append(ts, t)
			}
		}
	}
	return ts, nil
}

// authorizeFeedTopics asks the Authorizer about every room of a feed, as
// a join of that room with the feed's token would. It returns the first
// refusal.
func (s *Server) authorizeFeedTopics(ts []feedTopic, token string, claims *auth.Claims) error {
	asked := make(map[feedTopic]bool)
	for _, t := range ts {
		room := feedTopic{sub: t.sub, private: t.private}
		if asked[room] {
			continue
		}
		asked[room] = true
		if _, err := s.authorize(ChannelRequest{Topic: t.sub, Private: t.private, Token: token, Claims: claims}); err != nil {
			return err
		}
	}
	return nil
}

// feedRoom is a feed's subscriber of one hub topic: a broadcast room, or
// the diffs of a presence room. The hub delivers it text frames (those of
// a vsn 1.0.0 socket), which it turns into feed events.
type feedRoom struct {
	s     *Server
	sink  *feedSink
	topic feedTopic
}

var _ broadcast.Subscriber = (*feedRoom)(nil)

func (r *feedRoom) Kind() int { return kindV1 }

// Deliver runs under the hub's read lock, on the publisher's goroutine:
// it converts (once per frame for all feeds, see roomEventCache) and
// queues.
func (r *feedRoom) Deliver(f broadcast.Frame) {
	ev, err := r.s.roomEvents.event(r.topic.sub, f.Body, r.sink.stream.conn != nil)
	if err != nil {
		return // not an event a feed carries
	}
	r.sink.push(ev)
}

// joinFeedRooms subscribes sink to the rooms of ts and returns what leaves
// them. A presence room's state is queued, and its diffs subscribed, in
// one step of the store (as a channel does): no change falls between the
// state and the first diff.
func (s *Server) joinFeedRooms(sink *feedSink, ts []feedTopic) (leave func()) {
	type joined struct {
		hubTopic string
		r        *feedRoom
	}
	var js []joined
	for _, t := range ts {
		r := &feedRoom{s: s, sink: sink, topic: t}
		room := roomKey(t.private, t.sub)
		if !t.presence {
			s.hub.Subscribe(room, r)
			js = append(js, joined{room, r})
			continue
		}
		s.presence.Sync(room, func(state []byte) {
			sink.push(feedEvent{name: feedEvPresenceState, payload: presenceStateData(t.sub, state)})
			s.hub.Subscribe(presenceTopic(room), r)
		})
		js = append(js, joined{presenceTopic(room), r})
	}
	return func() {
		for _, j := range js {
			s.hub.Unsubscribe(j.hubTopic, j.r)
		}
	}
}

// presenceStateData is a presence_state event's data: {"topic":…,"state":…}.
// state is copied (it is valid only inside Sync).
func presenceStateData(sub string, state []byte) []byte {
	b := append(make([]byte, 0, len(state)+len(sub)+24), `{"topic":`...)
	b = replication.AppendJSONString(b, sub)
	b = append(b, `,"state":`...)
	b = appendOneLine(b, state)
	return append(b, '}')
}

// appendOneLine appends the JSON value v without the line breaks its
// whitespace may hold (a tracked meta is kept as the client sent it): an
// SSE data line ends at the first one.
func appendOneLine(dst, v []byte) []byte {
	if !bytes.ContainsAny(v, "\r\n") {
		return append(dst, v...)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return append(dst, "null"...)
	}
	return append(dst, buf.Bytes()...)
}

// errTooManyFeedSubs refuses a feed past its subscription count.
var errTooManyFeedSubs = errors.New("too many subscriptions in one feed: postgres_changes bindings, broadcast and presence topics together may be at most --max-channels")

// errNotFeedEvent is a hub frame that feeds do not carry.
var errNotFeedEvent = errors.New("not a broadcast or presence diff")

// roomFrameEvent turns a room's text frame into a feed event:
//
//	broadcast      {"topic":…} and the members of the broadcast's payload
//	               ({"type":"broadcast","event":…,"payload":…}: what a
//	               realtime-js broadcast callback receives)
//	presence_diff  {"topic":…,"joins":…,"leaves":…}
func roomFrameEvent(sub string, frame []byte) (feedEvent, error) {
	m, err := phoenix.DecodeText(phoenix.V1, frame)
	if err != nil {
		return feedEvent{}, err
	}
	switch m.Event {
	case evBroadcast:
		var members map[string]json.RawMessage
		if err := json.Unmarshal(m.Payload, &members); err != nil {
			// Not an object: realtime-js hands it over as it is.
			members = map[string]json.RawMessage{"type": json.RawMessage(`"broadcast"`), "payload": m.Payload}
		}
		t, _ := json.Marshal(sub)
		members["topic"] = t
		data, err := json.Marshal(members) // compact: one line
		return feedEvent{name: feedEvBroadcast, payload: data}, err
	case evPresenceDiff:
		// The server's own {"joins":…,"leaves":…}.
		body := bytes.TrimSpace(m.Payload)
		if len(body) < 2 || body[0] != '{' {
			return feedEvent{}, errNotFeedEvent
		}
		b := append(make([]byte, 0, len(body)+len(sub)+16), `{"topic":`...)
		b = replication.AppendJSONString(b, sub)
		if rest := bytes.TrimSpace(body[1:]); rest[0] != '}' {
			b = append(b, ',')
		}
		b = appendOneLine(b, body[1:])
		return feedEvent{name: feedEvPresenceDiff, payload: b}, nil
	}
	return feedEvent{}, errNotFeedEvent
}

// roomEventCache remembers the event of the last frame it converted: the
// hub hands one frame to every feed of a room in a row, so it is converted
// once, not once per feed. The frame's body is never reused while the
// cache holds it, so its address identifies it.
type roomEventCache struct {
	mu   sync.Mutex
	last *byte
	n    int
	sub  string
	ev   feedEvent
	err  error
}

// event converts frame, or returns what it converted last time. With wire,
// the event comes with its SSE chunk, also encoded once for every hijacked
// stream (sse_stream.go).
func (c *roomEventCache) event(sub string, frame []byte, wire bool) (feedEvent, error) {
	if len(frame) == 0 {
		return feedEvent{}, errNotFeedEvent
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != &frame[0] || c.n != len(frame) || c.sub != sub {
		c.ev, c.err = roomFrameEvent(sub, frame)
		c.last, c.n, c.sub = &frame[0], len(frame), sub
	}
	if wire && c.err == nil && c.ev.wire == nil {
		c.ev.wire = sseChunk(c.ev)
	}
	return c.ev, c.err
}

// feedQueueBytes bounds a feed's queue: QueueBytes, and room for two
// maximal broadcasts when it listens to rooms, as a socket's queue has
// (Config.queueBound).
func (s *Server) feedQueueBytes(req *feedRequest) int {
	if len(req.topics) > 0 {
		return s.cfg.queueBound()
	}
	return s.cfg.QueueBytes
}

// refuseFeedTopic answers a feed whose room the Authorizer refused: 403
// with the refusal, as a join would give it.
func refuseFeedTopic(w http.ResponseWriter, err error) {
	writeError(w, http.StatusForbidden, err.Error())
}
