package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/walcast/walcast/phoenix"
)

// Phoenix events and topics the server handles.
const (
	topicPhoenix     = "phoenix"
	topicPrefix      = "realtime:"
	evHeartbeat      = "heartbeat"
	evJoin           = "phx_join"
	evLeave          = "phx_leave"
	evReply          = "phx_reply"
	evClose          = "phx_close"
	evAccessToken    = "access_token"
	evBroadcast      = "broadcast"
	evPresence       = "presence"
	evSystem         = "system"
	evPostgresChange = "postgres_changes"
)

var (
	emptyResponse  = json.RawMessage(`{}`)
	unmatchedTopic = json.RawMessage(`{"reason":"unmatched topic"}`)
)

// handleFrame decodes one inbound message and acts on it. A frame that does
// not decode is logged (rate-limited) and dropped; the connection stays, as
// with Phoenix. One whose envelope decoded but whose payload is refused is
// answered (conn_refuse.go).
func (c *conn) handleFrame(binary bool, data []byte) {
	var m phoenix.Message
	var err error
	switch {
	case !binary:
		m, err = phoenix.DecodeTextDepth(c.vsn, data, c.s.cfg.MaxJSONDepth)
	case c.vsn == phoenix.V2:
		m, err = phoenix.DecodeBinaryDepth(data, c.s.cfg.MaxJSONDepth)
	default:
		err = errors.New("binary frame on a vsn 1.0.0 socket")
	}
	if err != nil {
		c.s.malformedFrame(c, err)
		if pe, ok := errors.AsType[*phoenix.PayloadError](err); ok {
			c.refuseMalformed(m, pe)
		}
		return
	}
	c.s.countInbound(m.Event, len(data))
	if c.refuseSizes(m) {
		return
	}
	c.handle(m)
}

func (c *conn) handle(m phoenix.Message) {
	if m.Topic == topicPhoenix && m.Event == evHeartbeat {
		// Phoenix answers heartbeats without a join_ref.
		c.reply("", m.Ref, topicPhoenix, true, emptyResponse)
		return
	}
	if m.Event == evJoin && !m.Binary {
		// The channel keeps parts of the payload (the bindings it echoes),
		// and data is the socket's buffer, valid only during this call.
		m.Payload = slices.Clone(m.Payload)
		c.deep(func() { c.join(m) })
		return
	}
	ch := c.channel(m.Topic)
	if ch == nil {
		if m.Event == evLeave {
			c.reply(m.JoinRef, m.Ref, m.Topic, true, emptyResponse)
		} else {
			c.reply("", m.Ref, m.Topic, false, unmatchedTopic)
		}
		return
	}
	// A push from before the client's latest join of this topic (its
	// channel rejoined meanwhile) belongs to a channel that no longer
	// exists. A missing join_ref is tolerated: V1 clients may omit it.
	if m.JoinRef != "" && m.JoinRef != ch.joinRef {
		c.debug("ignoring message with a stale join_ref", "topic", m.Topic, "event", m.Event, "join_ref", m.JoinRef)
		return
	}
	switch m.Event {
	case evLeave:
		ch.leave(m.Ref)
	case evAccessToken:
		c.deep(func() { ch.refreshToken(m.Payload) })
	case evBroadcast:
		ch.handleBroadcast(m)
	case evPresence:
		c.deep(func() { ch.handlePresence(m) })
	default:
		// Supabase ignores events it does not know.
		c.debug("ignoring event", "topic", m.Topic, "event", m.Event, "binary", m.Binary)
	}
}

// deep runs f, which needs a deep stack (JSON and JWT decoding), on a
// short-lived goroutine and waits for it. The read loop itself stays
// shallow: a goroutine's stack never shrinks below twice what it uses
// while blocked, so a join handled inline would double the stack every
// idle connection keeps (4 KiB to 8 KiB). Messages are still handled one
// at a time, in order.
func (c *conn) deep(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// join handles phx_join: checks the topic, the channel limit and the token,
// closes a channel already joined on the topic, and starts the new one.
func (c *conn) join(m phoenix.Message) {
	if !c.allowJoin() {
		c.joinError(m, "ClientJoinRateLimitReached: Too many joins per second")
		return
	}
	sub, ok := strings.CutPrefix(m.Topic, topicPrefix)
	if !ok {
		c.reply("", m.Ref, m.Topic, false, unmatchedTopic)
		return
	}
	if old := c.channel(m.Topic); old != nil {
		// Phoenix closes the older channel of a duplicate join before it
		// even looks at the new one.
		old.close(nil)
	}
	if why := c.s.subTopicProblem(sub); why != "" {
		c.joinError(m, why)
		return
	}
	cfg, err := phoenix.ParseJoin(m.Payload)
	if err != nil {
		// Not an object, or a binding that is not one: the Elixir server
		// crashes on these; say why instead.
		c.joinError(m, "MalformedJoinPayload: "+err.Error())
		return
	}
	if len(cfg.Invalid) > 0 {
		// Values of the wrong type: Supabase logs them and joins with
		// defaults, and so do we.
		c.debug("join payload values replaced by defaults", "topic", m.Topic, "invalid", cfg.Invalid)
	}
	if n := len(cfg.PostgresChanges); n > c.s.cfg.MaxBindings {
		c.joinError(m, fmt.Sprintf("TooManyBindings: A join may have at most %d postgres_changes bindings, this one has %d", c.s.cfg.MaxBindings, n))
		return
	}
	if c.channelCount() >= c.s.cfg.MaxChannels {
		c.joinError(m, "ChannelRateLimitReached: Too many channels")
		return
	}
	token := cfg.AccessToken
	if token == "" || strings.HasPrefix(token, "sb_") {
		// No user token (or an opaque sb_ key): the apikey is the token.
		token = c.apikey
	}
	claims, err := c.s.cfg.Verifier.Verify(token)
	if err != nil {
		c.joinError(m, err.Error()) // *auth.Error: "Code: message"
		return
	}
	access, err := c.s.authorize(ChannelRequest{Topic: sub, Private: cfg.Private, Token: token, Claims: claims})
	if err != nil {
		c.joinError(m, err.Error())
		return
	}
	replay, refused := checkReplay(cfg.Replay, cfg.Private)
	if refused != "" {
		c.joinError(m, refused)
		return
	}
	ch := newChannel(c, m, sub, &cfg, token, claims)
	ch.replay = replay
	ch.write.set(access)
	if !c.addChannel(ch) {
		return
	}
	c.s.stats.joinsOK.Add(1)
	ch.start()
}

func (c *conn) joinError(m phoenix.Message, reason string) {
	c.s.joinRefused(c, m.Topic, reason)
	c.reply(m.JoinRef, m.Ref, m.Topic, false, reasonPayload(reason))
}

func reasonPayload(reason string) json.RawMessage {
	b, _ := json.Marshal(struct {
		Reason string `json:"reason"`
	}{reason})
	return b
}

// reply sends a phx_reply: {"status":"ok"|"error","response":response}.
func (c *conn) reply(joinRef, ref, topic string, ok bool, response json.RawMessage) bool {
	return c.sendMessage(phoenix.Message{JoinRef: joinRef, Ref: ref, Topic: topic, Event: evReply, Payload: replyPayload(ok, response)})
}

func replyPayload(ok bool, response json.RawMessage) json.RawMessage {
	p := make([]byte, 0, len(`{"status":"error","response":}`)+len(response))
	if ok {
		p = append(p, `{"status":"ok","response":`...)
	} else {
		p = append(p, `{"status":"error","response":`...)
	}
	p = append(p, response...)
	return append(p, '}')
}

func (c *conn) channel(topic string) *channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.findChannel(topic)
}

// findChannel returns the channel of topic, or nil. c.mu must be held. A
// slice searched in order beats a map here: most connections have one to
// three channels (100 at most), and a map costs an idle connection ~250
// bytes more.
func (c *conn) findChannel(topic string) *channel {
	for _, ch := range c.channels {
		if ch.topic == topic {
			return ch
		}
	}
	return nil
}

func (c *conn) channelCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.channels)
}

// addChannel registers ch under its topic, unless the connection is being
// torn down.
func (c *conn) addChannel(ch *channel) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	for i, old := range c.channels {
		if old.topic == ch.topic {
			c.channels[i] = ch
			return true
		}
	}
	c.channels = append(c.channels, ch)
	return true
}

// removeChannel forgets ch if it is still the channel of its topic.
func (c *conn) removeChannel(ch *channel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.channels, ch); i >= 0 {
		c.channels = slices.Delete(c.channels, i, i+1)
	}
}

func (c *conn) debug(msg string, args ...any) {
	if c.s.log.Enabled(context.Background(), levelDebug) {
		c.s.log.Debug(msg, append(args, "conn", c.id)...)
	}
}
