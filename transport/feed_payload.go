package transport

import (
	"encoding/json"
	"sync"
)

// changePayload turns the data object of a postgres_changes message into
// the payload a realtime-js callback receives: {schema, table,
// commit_timestamp, eventType, new, old, errors}, with new {} for DELETE
// and old {} for INSERT, as realtime-js builds it. It also returns the
// change's cursor.
func changePayload(data []byte) (feedEvent, error) {
	var d struct {
		Schema          string          `json:"schema"`
		Table           string          `json:"table"`
		Type            string          `json:"type"`
		CommitTimestamp json.RawMessage `json:"commit_timestamp"`
		Record          json.RawMessage `json:"record"`
		OldRecord       json.RawMessage `json:"old_record"`
		Errors          json.RawMessage `json:"errors"`
		Cursor          string          `json:"cursor"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return feedEvent{}, err
	}
	orEmpty := func(m json.RawMessage) json.RawMessage {
		if len(m) == 0 || string(m) == "null" {
			return json.RawMessage(`{}`)
		}
		return m
	}
	if len(d.Errors) == 0 {
		d.Errors = json.RawMessage(`null`)
	}
	out, err := json.Marshal(struct {
		Schema          string          `json:"schema"`
		Table           string          `json:"table"`
		CommitTimestamp json.RawMessage `json:"commit_timestamp"`
		EventType       string          `json:"eventType"`
		New             json.RawMessage `json:"new"`
		Old             json.RawMessage `json:"old"`
		Errors          json.RawMessage `json:"errors"`
	}{d.Schema, d.Table, d.CommitTimestamp, d.Type, orEmpty(d.Record), orEmpty(d.OldRecord), d.Errors})
	return feedEvent{cursor: d.Cursor, payload: out}, err
}

// payloadCache remembers the payload of the last change it converted: the
// dispatcher hands one change to every matching feed in a row, with the
// same data slice, so it is converted once, not once per feed.
//
// With wire, the event comes with its SSE chunk (feedEvent.wire), also
// encoded once and shared by every hijacked SSE stream it goes to.
type payloadCache struct {
	mu   sync.Mutex
	last *byte
	n    int
	ev   feedEvent
}

func (c *payloadCache) event(data []byte, wire bool) (feedEvent, error) {
	if len(data) == 0 {
		return changePayload(data)
	}
	key := &data[0]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != key || c.n != len(data) {
		ev, err := changePayload(data)
		if err != nil {
			return ev, err
		}
		c.last, c.n, c.ev = key, len(data), ev
	}
	if wire && c.ev.wire == nil {
		c.ev.wire = sseChunk(c.ev)
	}
	return c.ev, nil
}
