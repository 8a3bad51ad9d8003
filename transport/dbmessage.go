package transport

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/replication"
)

// DBBroadcastPrefix is the pg_logical_emit_message prefix of the broadcasts
// realtime.send emits (sql/migrations/0002_realtime_send.sql).
const DBBroadcastPrefix = "walcast.broadcast"

var _ replication.MessageHandler = (*Server)(nil)

// HandleMessage publishes a broadcast the database emitted with
// realtime.send (or realtime.broadcast_changes): content
// {"id","topic","event","payload","private"}, delivered to the room as a
// text broadcast {"type":"broadcast","event":…,"payload":…,"meta":{"id":…}},
// as Supabase delivers its database broadcasts (the id is the message's
// UUID, which realtime.send also puts in the payload; the stream cursor
// stands in for content without one).
// Messages with other prefixes belong to someone else and are ignored.
//
// It runs on the replication stream's goroutine and never blocks (the hub
// only queues). A message it cannot use is logged and skipped, never
// returned as an error: that would stop the stream for every client.
func (s *Server) HandleMessage(_ context.Context, msg *replication.LogicalMessage) error {
	if msg.Prefix != DBBroadcastPrefix {
		return nil
	}
	// Unmarshal copies what it keeps: Content aliases the stream's receive
	// buffer, which the next message overwrites.
	var m struct {
		ID      string          `json:"id"`
		Topic   string          `json:"topic"`
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
		Private bool            `json:"private"`
	}
	if err := json.Unmarshal(msg.Content, &m); err != nil || m.Topic == "" {
		s.log.Warn("skipping malformed database broadcast", "cursor", msg.Cursor.String(), "error", err)
		return nil
	}
	if !utf8.Valid(m.Payload) {
		// Postgres keeps json and jsonb valid UTF-8, but the content of a
		// logical message is any bytes: what reaches text frames must be
		// UTF-8 (the strings above were made so by Unmarshal).
		s.log.Warn("skipping database broadcast whose payload is not UTF-8", "cursor", msg.Cursor.String(), "topic", m.Topic)
		return nil
	}
	if len(m.Payload) > s.cfg.MaxPayloadBytes {
		s.log.Warn("skipping oversized database broadcast", "topic", m.Topic, "event", m.Event,
			"bytes", len(m.Payload), "limit", s.cfg.MaxPayloadBytes)
		return nil
	}
	meta := append(make([]byte, 0, 48), `{"id":`...)
	if m.ID != "" {
		meta = replication.AppendJSONString(meta, m.ID)
	} else {
		meta = append(msg.Cursor.AppendText(append(meta, '"')), '"')
	}
	meta = append(meta, '}')
	s.publish(&broadcast.Envelope{
		Topic: m.Topic, Private: m.Private, Kind: broadcast.KindUser,
		Event: m.Event, Meta: meta, Payload: m.Payload, JSON: true,
		NodeLocal: true, // every node reads it from its own slot
	})
	return nil
}
