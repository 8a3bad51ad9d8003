package phoenix

import (
	"encoding/json"
	"testing"
)

// FuzzParseJoin: ParseJoin never panics; it accepts only JSON objects, keeps
// WaitTimeout in (0, MaxWaitTimeout], and every binding it returns echoes
// as valid JSON holding the client's keys plus "id".
func FuzzParseJoin(f *testing.F) {
	for _, s := range []string{
		`{"config":{"broadcast":{"self":true,"ack":true},"presence":{"key":"u-self","enabled":true},"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"},{"event":"*","schema":"public","table":"todos"}],"private":false}}`,
		`{"config":{"broadcast":{"ack":"True"},"presence":{"key":1},"postgres_changes":[null,{}],"postgres_changes_options":{"wait":"true","timeout":"900"}},"access_token":"x","version":"realtime-js/2.119.0"}`,
		`{"user_token":"t","config":{"postgres_changes":{"event":1},"postgres_changes_options":{"timeout":-1}}}`,
		`{"config":{"broadcast":{"replay":{"since":1},"replication_ready":"false"},"postgres_changes":[{"event":"*","schema":"s","table":"t","filter":"a=eq.}"} ]}}`,
		`null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseJoin(data)
		if err != nil {
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) != nil {
			t.Fatalf("ParseJoin accepted %q, which is not a JSON object", data)
		}
		if cfg.WaitTimeout <= 0 || cfg.WaitTimeout > MaxWaitTimeout {
			t.Fatalf("WaitTimeout = %v", cfg.WaitTimeout)
		}
		for i, b := range cfg.PostgresChanges {
			echo := AppendBindingWithID(nil, b.Raw, uint64(i))
			var sent, got map[string]json.RawMessage
			if err := json.Unmarshal(b.Raw, &sent); err != nil {
				t.Fatalf("binding %d Raw %q is not an object: %v", i, b.Raw, err)
			}
			if err := json.Unmarshal(echo, &got); err != nil {
				t.Fatalf("echo %q of %q is not valid JSON: %v", echo, b.Raw, err)
			}
			for k := range sent {
				if _, ok := got[k]; !ok {
					t.Fatalf("echo %q lost key %q of %q", echo, k, b.Raw)
				}
			}
			if _, ok := got["id"]; !ok {
				t.Fatalf("echo %q has no id", echo)
			}
		}
	})
}
