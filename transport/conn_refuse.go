package transport

import (
	"errors"
	"fmt"

	"github.com/walcast/walcast/phoenix"
)

// Refusing what a client sized or shaped wrong. Every refusal is answered
// where the client waits for an answer (a join, any push with a ref, a
// broadcast that asked for acks), and the connection stays: a bad message
// is the client's problem, not its neighbours'.

// refuseMalformed answers a message whose envelope decoded but whose
// payload did not (not JSON, nested too deeply, not UTF-8 where text
// receivers need it).
func (c *conn) refuseMalformed(m phoenix.Message, pe *phoenix.PayloadError) {
	msg := pe.Err.Error()
	if _, deep := errors.AsType[*phoenix.DepthError](pe); deep {
		msg += fmt.Sprintf(" (JSON may nest at most %d levels, the frame included)", c.s.cfg.MaxJSONDepth)
	}
	if m.Event == evJoin && !m.Binary {
		c.refuse(m, "MalformedJoinPayload: "+msg)
		return
	}
	c.refuse(m, "MalformedMessage: "+msg)
}

// refuse answers a refused message with reason. A broadcast is answered
// only when its channel asked for acks, as Supabase answers an oversized
// one, and otherwise dropped (logged at debug); a join gets a join error;
// any other push with a ref an error reply.
func (c *conn) refuse(m phoenix.Message, reason string) {
	switch {
	case m.Event == evJoin && !m.Binary:
		c.joinError(m, reason)
	case m.Event == evBroadcast:
		ch := c.channel(m.Topic)
		if ch == nil || !ch.bc.ack || (m.JoinRef != "" && m.JoinRef != ch.joinRef) {
			c.debug("dropping refused broadcast", "topic", m.Topic, "reason", reason)
			return
		}
		c.reply(ch.joinRef, m.Ref, ch.topic, false, reasonPayload(reason))
	case m.Ref != "":
		c.reply(m.JoinRef, m.Ref, m.Topic, false, reasonPayload(reason))
	}
}

// refuseSizes refuses a message with an event name longer than
// MaxEventBytes (a Phoenix event, or a binary broadcast's user event) and
// reports whether it did. A long topic needs no check here: join refuses
// it, so no channel has one and it is an unmatched topic.
func (c *conn) refuseSizes(m phoenix.Message) bool {
	limit := c.s.cfg.MaxEventBytes
	if len(m.Event) <= limit && len(m.UserEvent) <= limit {
		return false
	}
	c.refuse(m, fmt.Sprintf("EventTooLong: An event name may have at most %d bytes", limit))
	return true
}
