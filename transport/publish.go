package transport

import (
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/phoenix"
)

// localPublisher is the node's own broadcast.Publisher: it encodes an
// envelope once per serializer and hands the frames to the hub's room.
// Client pushes, REST and database broadcasts and presence diffs all come
// through it, from this node (through Config.Relay, when set) or, through
// a relay, from others.
type localPublisher struct{ s *Server }

func (p localPublisher) Publish(e *broadcast.Envelope) {
	s := p.s
	room := roomKey(e.Private, e.Topic)
	var msg *broadcast.Message
	switch e.Kind {
	case broadcast.KindPush:
		msg = encodeClientText(topicPrefix+e.Topic, e.Payload)
	case broadcast.KindUser:
		msg = encodeUserBroadcast(topicPrefix+e.Topic, userBroadcast{
			event: e.Event, meta: e.Meta, payload: e.Payload, json: e.JSON, binary: e.Binary,
		})
	case broadcast.KindPresenceDiff:
		room = presenceTopic(room)
		m := phoenix.Message{Topic: topicPrefix + e.Topic, Event: evPresenceDiff, Payload: e.Payload}
		msg = &broadcast.Message{}
		msg.Frames[kindV1] = broadcast.Frame{Body: phoenix.AppendText(nil, phoenix.V1, m)}
		msg.Frames[kindV2] = broadcast.Frame{Body: phoenix.AppendText(nil, phoenix.V2, m)}
	default:
		s.log.Warn("dropping a broadcast of unknown kind", "kind", e.Kind, "topic", e.Topic)
		return
	}
	var keep func()
	if e.Private && e.Kind != broadcast.KindPresenceDiff && s.retained != nil {
		// Kept under the hub's lock, so that a replay and the live
		// broadcasts after it never overlap (channel_replay.go).
		keep = func() { s.retained.Keep(room, e) }
	}
	s.hub.PublishWith(room, msg, e.Except, keep)
}

// publish sends e through the node's publish path: the relay when one is
// configured, else straight to the local rooms.
func (s *Server) publish(e *broadcast.Envelope) {
	if e.Sender.Node == "" {
		e.Sender.Node = s.cfg.Node
	}
	s.pub.Publish(e)
}
