package transport

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/presence"
)

// Presence events the server sends.
const (
	evPresenceState = "presence_state"
	evPresenceDiff  = "presence_diff"
)

// Defaults of the client presence limit: Supabase's CLIENT_PRESENCE_MAX_CALLS
// and CLIENT_PRESENCE_WINDOW_MS.
const (
	DefaultPresenceMaxCalls = 5
	DefaultPresenceWindow   = 30 * time.Second
)

func (c *Config) setPresenceDefaults() {
	if c.PresenceMaxCalls == 0 {
		c.PresenceMaxCalls = DefaultPresenceMaxCalls
	}
	if c.PresenceWindow <= 0 {
		c.PresenceWindow = DefaultPresenceWindow
	}
}

// Replies to presence pushes.
var (
	trackNotAMap  = json.RawMessage(`{"reason":"Presence track payload must be a map"}`)
	emptyMetaJSON = json.RawMessage(`{}`)
)

// presenceTopic is the hub topic carrying the presence diffs of a room. It
// is not the room's broadcast topic: only channels that enabled presence
// subscribe to it, because realtime-js keeps every presence_diff that
// precedes a presence_state for its join, so a channel that never gets a
// state (one joined without presence) would pile them up for its lifetime.
// Supabase gates diffs the same way. Broadcast topics start with "public:"
// or "private:", so no sub-topic can make the two collide.
func presenceTopic(room string) string { return "presence|" + room }

// chanPresence is a channel's presence state; ch.mu guards it.
//
// Lock order: ch.mu, then the store's room lock (held while a diff is
// published or a state is sent), then the hub's, then the connection's and
// its queue's. Hub Deliver calls only queue frames, so a publish under a
// room lock never waits for a channel.
type chanPresence struct {
	want    bool              // the join asked for presence (config.presence.enabled)
	key     string            // config.presence.key; a random UUID once needed if empty
	enabled bool              // presence_state sent, diffs subscribed, member set
	member  presence.MemberID // the channel in the store, once enabled
	calls   int               // presence pushes in the current window
	resetAt time.Time         // end of the window; zero before the first push
}

func newChanPresence(cfg *phoenix.JoinConfig) chanPresence {
	return chanPresence{want: cfg.Presence.Enabled, key: cfg.Presence.Key}
}

func (ch *channel) presenceRoom() string { return roomKey(ch.bc.private, ch.sub) }

// joinPresence runs as the channel joins (ch.mu held, right after the join
// reply). realtime-js applies no presence event of a join until it got that
// join's presence_state, so a join that asked for presence gets one at
// once, {} for an empty room.
func (ch *channel) joinPresence() {
	if ch.pr.want {
		ch.enablePresence()
	}
}

// enablePresence sends presence_state and subscribes the channel to the
// room's diffs, both inside the store's Sync: no change of the room falls
// between the state and the first diff, and none is in both. ch.mu held.
func (ch *channel) enablePresence() {
	p := &ch.pr
	p.enabled = true
	if p.key == "" {
		// Supabase gives a channel without a key a random UUID, fixed for
		// the channel's life.
		p.key = randomUUID()
	}
	p.member = ch.c.s.presence.NewMember()
	room := ch.presenceRoom()
	ch.c.s.presence.Sync(room, func(state []byte) {
		// AppendText copies state, which is only valid here.
		ch.c.sendMessage(phoenix.Message{JoinRef: ch.joinRef, Topic: ch.topic, Event: evPresenceState, Payload: state})
		// Diffs reach the channel through the same Deliver as broadcasts.
		ch.c.s.hub.Subscribe(presenceTopic(room), ch)
	})
}

// leavePresence runs once as the channel stops (without ch.mu): it stops
// the diffs, then untracks, so the others get the leave and the channel
// does not get its own.
func (ch *channel) leavePresence() {
	ch.mu.Lock()
	enabled, member := ch.pr.enabled, ch.pr.member
	ch.mu.Unlock()
	if !enabled {
		return
	}
	room := ch.presenceRoom()
	ch.c.s.hub.Unsubscribe(presenceTopic(room), ch)
	ch.c.s.presence.Untrack(room, member)
}

// handlePresence handles a presence push,
// {"type":"presence","event":"track"|"untrack","payload":{…}}, with
// Supabase's answers: ok; {"reason":"Presence track payload must be a map"}
// for a track whose payload is not an object; a bare error for an unknown
// event. Past PresenceMaxCalls per PresenceWindow, or with a track payload
// over MaxPresenceBytes, the channel is closed with a system error. It runs
// on a helper goroutine the read loop waits for.
func (ch *channel) handlePresence(m phoenix.Message) {
	var body map[string]json.RawMessage
	if json.Unmarshal(m.Payload, &body) != nil || body["event"] == nil {
		// Supabase answers a push without an event ok, and does nothing.
		ch.c.reply(ch.joinRef, m.Ref, ch.topic, true, emptyResponse)
		return
	}
	var event string
	json.Unmarshal(body["event"], &event) // not a string: "", an unknown event
	event = asciiLower(event)
	if event == "track" {
		if err := ch.write.allowed(ExtPresence); err != nil {
			ch.c.debug("refusing unauthorized track", "topic", ch.topic, "error", err)
			ch.c.reply(ch.joinRef, m.Ref, ch.topic, false, reasonPayload(err.Error()))
			return
		}
	}
	if why := ch.presencePush(m.Ref, event, body["payload"]); why != "" {
		ch.close(systemPayload("system", "error", why, ch.sub))
	}
}

// presencePush acts on a presence event under ch.mu, replying as it goes.
// It returns why the channel must be closed, or "".
func (ch *channel) presencePush(ref, event string, payload json.RawMessage) string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	switch ch.state {
	case closed:
		return "" // phx_close is out or on its way
	case joining:
		// realtime-js holds pushes until the join reply; a client that does
		// not gets an error rather than presence that skipped its state.
		ch.c.reply(ch.joinRef, ref, ch.topic, false, emptyResponse)
		return ""
	}
	if !ch.allowPresenceCall(time.Now()) {
		return "Client presence rate limit exceeded"
	}
	switch event {
	case "track":
		if payload == nil {
			payload = emptyMetaJSON // Supabase's default for a missing payload
		}
		if phoenix.FirstJSONByte(payload) != '{' {
			ch.c.reply(ch.joinRef, ref, ch.topic, false, trackNotAMap)
			return ""
		}
		// The meta stays in memory for the channel's life, and goes to
		// every joiner of the room in presence_state: MaxPresenceBytes.
		if len(payload) > ch.c.s.cfg.MaxPresenceBytes {
			return "Track message size exceeded"
		}
		meta, err := presence.ParseMeta(payload)
		if err != nil {
			// An object encoding/json refuses (nested past its depth limit).
			ch.c.reply(ch.joinRef, ref, ch.topic, false, trackNotAMap)
			return ""
		}
		ch.c.reply(ch.joinRef, ref, ch.topic, true, emptyResponse)
		if !ch.pr.enabled {
			// Tracking enables presence. The state comes first, without
			// the channel's own meta, whose join then arrives as a diff.
			ch.enablePresence()
		}
		ch.c.s.presence.Track(ch.presenceRoom(), ch.pr.member, ch.pr.key, meta)
	case "untrack":
		ch.c.reply(ch.joinRef, ref, ch.topic, true, emptyResponse)
		if ch.pr.enabled {
			ch.c.s.presence.Untrack(ch.presenceRoom(), ch.pr.member)
		}
	default:
		ch.c.reply(ch.joinRef, ref, ch.topic, false, emptyResponse)
	}
	return ""
}

// allowPresenceCall counts a presence push against PresenceMaxCalls per
// PresenceWindow, with Supabase's fixed window that starts at the first
// push after the previous window ended. ch.mu held.
func (ch *channel) allowPresenceCall(now time.Time) bool {
	cfg := &ch.c.s.cfg
	if cfg.PresenceMaxCalls < 0 {
		return true
	}
	p := &ch.pr
	if p.resetAt.IsZero() || now.After(p.resetAt) {
		p.calls, p.resetAt = 1, now.Add(cfg.PresenceWindow)
		return true
	}
	if p.calls >= cfg.PresenceMaxCalls {
		return false
	}
	p.calls++
	return true
}

// publishPresence is the presence store's Sink: it publishes a diff to the
// room's presence topic, the tracker's own channel included, as Supabase
// does. It runs with the room locked, so diffs go out in the room's change
// order.
func (s *Server) publishPresence(room string, d presence.Diff) {
	if s.hub.Subscribers(presenceTopic(room)) == 0 {
		return // say, the leave of the room's last channel
	}
	kind, sub, _ := strings.Cut(room, ":") // room is roomKey(private, sub)
	s.publish(&broadcast.Envelope{
		Topic: sub, Private: kind == "private", Kind: broadcast.KindPresenceDiff, Payload: d.AppendJSON(nil),
	})
}

// asciiLower lowercases ASCII letters only, as Supabase matches event
// names (String.downcase(event, :ascii)): no Unicode folding turns some
// other string into "track".
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// randomUUID returns a random (version 4) UUID.
func randomUUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
