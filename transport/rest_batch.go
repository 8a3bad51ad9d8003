package transport

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/phoenix"
	"github.com/walcast/walcast/replication"
)

// batchMessage is one validated message of a batch broadcast.
type batchMessage struct {
	topic, event string
	payload      json.RawMessage // a JSON object
	private      bool
	id           string // becomes meta.id when set
}

// serveBatch handles POST /api/broadcast with
// {"messages":[{"topic","event","payload","private"?,"id"?}]}. Like
// Supabase it validates the whole batch first: one invalid message refuses
// it all with 422 and per-message errors, in the shape of Phoenix's
// changeset errors. Every message goes out as a text broadcast.
func (h *restHandler) serveBatch(w http.ResponseWriter, r *http.Request) {
	body, who, ok := h.begin(w, r)
	if !ok {
		return
	}
	if !utf8.Valid(body) {
		writeJSON(w, http.StatusBadRequest, restNotUTF8)
		return
	}
	msgs, errBody := parseBatch(body, h.s.cfg.MaxPayloadBytes)
	if errBody != nil {
		writeJSON(w, http.StatusUnprocessableEntity, errBody)
		return
	}
	for _, m := range msgs {
		if msg := h.s.checkNames(m.topic, m.event); msg != nil {
			writeJSON(w, http.StatusBadRequest, msg)
			return
		}
	}
	if !h.allow(w, r, len(msgs)) {
		return
	}
	for _, m := range msgs {
		if err := h.mayWrite(who, m.topic, m.private); err != nil {
			// Supabase skips it and still answers 202.
			h.s.log.Debug("skipping unauthorized REST broadcast", "topic", m.topic, "private", m.private, "error", err)
			continue
		}
		var meta []byte
		if m.id != "" {
			meta = append(replication.AppendJSONString(append(make([]byte, 0, len(m.id)+10), `{"id":`...), m.id), '}')
		}
		h.s.publish(&broadcast.Envelope{
			Topic: m.topic, Private: m.private, Kind: broadcast.KindUser,
			Event: m.event, Meta: meta, Payload: m.payload, JSON: true,
		})
	}
	w.WriteHeader(http.StatusAccepted)
}

// parseBatch validates a batch body. On failure it returns the 422 body.
func parseBatch(body []byte, maxPayload int) ([]batchMessage, []byte) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil, restNotJSON
	}
	var items []json.RawMessage
	raw := top["messages"]
	if len(raw) == 0 || phoenix.IsJSONNull(raw) {
		return nil, restError("messages", "can't be blank")
	}
	if json.Unmarshal(raw, &items) != nil {
		return nil, restError("messages", "is invalid")
	}
	if len(items) == 0 {
		return nil, restError("messages", "can't be blank")
	}
	msgs := make([]batchMessage, len(items))
	errs := make([]map[string][]string, len(items))
	failed := false
	for i, item := range items {
		errs[i] = parseBatchMessage(item, maxPayload, &msgs[i])
		failed = failed || len(errs[i]) > 0
	}
	if failed {
		b, _ := json.Marshal(map[string]map[string]any{"errors": {"messages": errs}})
		return nil, b
	}
	return msgs, nil
}

// parseBatchMessage fills m from one message object and returns what is
// wrong with it, by field (empty when nothing).
func parseBatchMessage(item json.RawMessage, maxPayload int, m *batchMessage) map[string][]string {
	errs := map[string][]string{}
	var f map[string]json.RawMessage
	if json.Unmarshal(item, &f) != nil {
		errs["message"] = []string{"is invalid"}
		return errs
	}
	str := func(name string, required bool) string {
		raw := f[name]
		if len(raw) == 0 || phoenix.IsJSONNull(raw) {
			if required {
				errs[name] = []string{"can't be blank"}
			}
			return ""
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			errs[name] = []string{"is invalid"}
		} else if s == "" && required {
			errs[name] = []string{"can't be blank"}
		}
		return s
	}
	m.topic = str("topic", true)
	m.event = str("event", true)
	m.id = str("id", false)
	switch p := f["payload"]; {
	case len(p) == 0 || phoenix.IsJSONNull(p):
		errs["payload"] = []string{"can't be blank"}
	case phoenix.FirstJSONByte(p) != '{':
		errs["payload"] = []string{"is invalid"}
	case len(p) > maxPayload:
		errs["payload"] = []string{"Payload size exceeds tenant limit"}
	default:
		m.payload = p
	}
	if raw := f["private"]; len(raw) > 0 {
		switch string(phoenix.TrimJSONSpace(raw)) {
		case "true", `"true"`:
			m.private = true
		case "false", `"false"`, "null":
		default:
			errs["private"] = []string{"is invalid"}
		}
	}
	return errs
}
