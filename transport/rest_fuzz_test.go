package transport

import (
	"encoding/json"
	"testing"
)

// FuzzParseBatch feeds arbitrary bodies to the batch broadcast parser: it
// never panics, refuses with a valid JSON error body, and what it accepts is
// deliverable (a topic and event, and an object payload within the limit).
func FuzzParseBatch(f *testing.F) {
	for _, seed := range []string{
		`{"messages":[{"topic":"room","event":"e","payload":{"n":1}}]}`,
		`{"messages":[{"topic":"room","event":"e","payload":{"n":1},"private":true,"id":"x"}]}`,
		`{"messages":[{"topic":"room","event":"e","payload":"text"}]}`,
		`{"messages":[]}`, `{"messages":null}`, `{}`, `[]`, `null`, ``, `{"messages":[1,null,{}]}`,
	} {
		f.Add([]byte(seed))
	}
	const maxPayload = 256
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, errBody := parseBatch(body, maxPayload)
		if errBody != nil {
			if msgs != nil || !json.Valid(errBody) {
				t.Fatalf("refusal %q with messages %v", errBody, msgs)
			}
			return
		}
		if len(msgs) == 0 {
			t.Fatal("accepted a batch without messages")
		}
		for _, m := range msgs {
			var obj map[string]json.RawMessage
			if m.topic == "" || m.event == "" || len(m.payload) > maxPayload || json.Unmarshal(m.payload, &obj) != nil || obj == nil {
				t.Fatalf("accepted an undeliverable message %+v", m)
			}
		}
	})
}
