package transport

import (
	"encoding/json"

	"github.com/walcast/walcast/phoenix"

	"github.com/walcast/walcast/broadcast"
)

// Subscriber kinds of the hub: one per serializer, because a broadcast is
// encoded once per serializer and that encoding is shared by every socket
// speaking it.
const (
	kindV1 = 0
	kindV2 = 1
)

var _ broadcast.Forwarder = (*channel)(nil)

// roomKey is the hub topic of the room a channel on sub belongs to. Public
// and private channels with the same name are different rooms, as in
// Supabase, so a public sender never reaches a private listener.
func roomKey(private bool, sub string) string {
	if private {
		return "private:" + sub
	}
	return "public:" + sub
}

// broadcastConfig is what a join asked of broadcast. Missing values are
// false, as in Supabase: a sender does not hear itself and gets no acks.
type broadcastConfig struct {
	self, ack, private bool
}

func newBroadcastConfig(cfg *phoenix.JoinConfig) broadcastConfig {
	return broadcastConfig{self: cfg.Broadcast.Self, ack: cfg.Broadcast.Ack, private: cfg.Private}
}

// joinRooms enters the channel's room (broadcast and presence traffic
// alike) and queues the join reply, then what the join asked to replay,
// in the same step (they run under the hub's lock): nothing of the room reaches the client before the reply,
// and nothing published after the client has the reply misses it. It runs
// with ch.mu held and must not block: the hub's lock waits only for
// publishes in flight, which never take ch.mu.
func (ch *channel) joinRooms(reply func()) {
	ch.roomsJoined = true
	ch.c.s.hub.SubscribeThen(roomKey(ch.bc.private, ch.sub), ch, func() {
		reply()
		ch.replayTo()
	})
	ch.joinPresence()
}

// leaveRooms leaves the rooms joinRooms entered; it runs once, without
// ch.mu, when the channel stops. Once Unsubscribe returns no publish can
// reach the channel any more, so phx_close, sent after this, is the last
// message of the channel.
func (ch *channel) leaveRooms() {
	ch.c.s.hub.Unsubscribe(roomKey(ch.bc.private, ch.sub), ch)
	ch.leavePresence()
}

// Kind tells the hub which encoding of a broadcast this channel's socket
// takes.
func (ch *channel) Kind() int {
	if ch.c.vsn == phoenix.V1 {
		return kindV1
	}
	return kindV2
}

// Deliver queues a broadcast frame on the channel's connection; the hub
// calls conn.Deliver directly (Receiver).
func (ch *channel) Deliver(f broadcast.Frame) { ch.c.Deliver(f) }

// Receiver tells the hub that this channel's frames go to its connection.
func (ch *channel) Receiver() broadcast.Receiver { return ch.c }

// Deliver queues a broadcast frame. It runs under the hub's read lock, on
// the publisher's goroutine, so it only pushes: a full queue closes the
// connection as a slow consumer rather than making the publisher wait
// (wsconn.Conn.Send). A connection already going away (a teardown closes
// its socket before the channels leave their rooms) drops the frame: that
// is no slow consumer.
func (c *conn) Deliver(f broadcast.Frame) { c.ws.Send(f) }

// Replies to an acknowledged broadcast push.
var payloadSizeExceeded = json.RawMessage(`"payload_size_exceeded"`)

// handleBroadcast handles a client's broadcast push: a text "broadcast"
// event (vsn 1.0.0, or 2.0.0 with a non-string event), or a binary kind-3
// frame (vsn 2.0.0). It runs on the read loop.
func (ch *channel) handleBroadcast(m phoenix.Message) {
	if !ch.c.allowMessage() {
		ch.close(systemPayload("system", "error", "Too many messages per second", ch.sub))
		return
	}
	size := len(m.Payload)
	if m.Binary {
		size = len(m.Data)
	}
	if size > ch.c.s.cfg.MaxPayloadBytes {
		// Supabase drops it silently unless the sender waits for an ack.
		ch.c.debug("dropping oversized broadcast", "topic", ch.topic, "bytes", size)
		if ch.bc.ack {
			ch.c.reply(ch.joinRef, m.Ref, ch.topic, false, payloadSizeExceeded)
		}
		return
	}
	if err := ch.write.allowed(ExtBroadcast); err != nil {
		// Supabase drops it without a reply, ack or not.
		ch.c.debug("dropping unauthorized broadcast", "topic", ch.topic, "error", err)
		return
	}
	e := broadcast.Envelope{Topic: ch.sub, Private: ch.bc.private, Sender: broadcast.Sender{Conn: ch.c.id}}
	if m.Binary {
		e.Kind, e.Event, e.Payload, e.JSON, e.Binary = broadcast.KindUser, m.UserEvent, m.Data, m.JSONPayload, true
	} else {
		e.Kind, e.Payload = broadcast.KindPush, m.Payload
	}
	if !ch.bc.self {
		e.Except = ch
	}
	ch.c.s.publish(&e)
	if ch.bc.ack {
		ch.c.reply(ch.joinRef, m.Ref, ch.topic, true, emptyResponse)
	}
}
