package phoenix

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// joinWant builds an expected JoinConfig with the defaults ParseJoin applies.
func joinWant(edit func(*JoinConfig)) JoinConfig {
	c := JoinConfig{WaitTimeout: DefaultWaitTimeout}
	if edit != nil {
		edit(&c)
	}
	return c
}

func binding(event, schema, table, filter, raw string) PostgresBinding {
	return PostgresBinding{Event: event, Schema: schema, Table: table, Filter: filter, Raw: json.RawMessage(raw)}
}

func TestParseJoin(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want JoinConfig
	}{
		{"captured 2.119.0 join",
			`{"config":{"broadcast":{"self":true,"ack":true},"presence":{"key":"u-self","enabled":true},"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"},{"event":"*","schema":"public","table":"todos"}],"private":false}}`,
			joinWant(func(c *JoinConfig) {
				c.Broadcast.Self, c.Broadcast.Ack = true, true
				c.Presence.Key, c.Presence.Enabled = "u-self", true
				c.PostgresChanges = []PostgresBinding{
					binding("INSERT", "public", "todos", "id=eq.1", `{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"}`),
					binding("*", "public", "todos", "", `{"event":"*","schema":"public","table":"todos"}`),
				}
			})},
		{"rejoin with access_token and version", `{"config":{"broadcast":{"ack":false,"self":false},"presence":{"key":"","enabled":false},"postgres_changes":[],"private":true},"access_token":"tok","version":"realtime-js/2.119.0"}`,
			joinWant(func(c *JoinConfig) { c.Private, c.AccessToken = true, "tok"; c.PostgresChanges = []PostgresBinding{} })},
		{"empty object", `{}`, joinWant(nil)},
		{"config missing, legacy user_token", `{"user_token":"legacy"}`, joinWant(func(c *JoinConfig) { c.AccessToken = "legacy" })},
		{"access_token wins over user_token", `{"access_token":"new","user_token":"old"}`, joinWant(func(c *JoinConfig) { c.AccessToken = "new" })},
		{"empty access_token falls back to user_token", `{"access_token":"","user_token":"old"}`, joinWant(func(c *JoinConfig) { c.AccessToken = "old" })},
		{"null access_token", `{"access_token":null}`, joinWant(nil)},
		{"config null", `{"config":null}`, joinWant(nil)},
		{"broadcast partial", `{"config":{"broadcast":{"self":true}}}`, joinWant(func(c *JoinConfig) { c.Broadcast.Self = true })},
		{"broadcast replay and replication_ready", `{"config":{"broadcast":{"replay":{"since":1700000000000,"limit":10},"replication_ready":true}}}`,
			joinWant(func(c *JoinConfig) {
				c.ReplicationReady = true
				c.Replay = json.RawMessage(`{"since":1700000000000,"limit":10}`)
			})},
		{"string booleans any case", `{"config":{"broadcast":{"self":"TRUE","ack":"True"},"presence":{"enabled":"true"},"private":"true","postgres_changes_options":{"wait":"tRuE"}}}`,
			joinWant(func(c *JoinConfig) {
				c.Broadcast.Self, c.Broadcast.Ack, c.Presence.Enabled, c.Private, c.Wait = true, true, true, true, true
			})},
		{"string false", `{"config":{"broadcast":{"self":"false","ack":"False"},"private":"FALSE"}}`, joinWant(nil)},
		{"null booleans are false", `{"config":{"broadcast":{"self":null},"private":null}}`, joinWant(nil)},
		{"presence key missing", `{"config":{"presence":{"enabled":true}}}`, joinWant(func(c *JoinConfig) { c.Presence.Enabled = true })},
		{"presence object without enabled", `{"config":{"presence":{"key":"k"}}}`, joinWant(func(c *JoinConfig) { c.Presence.Key = "k" })},
		{"presence key number", `{"config":{"presence":{"key":123,"enabled":true}}}`, joinWant(func(c *JoinConfig) { c.Presence.Key, c.Presence.Enabled = "123", true })},
		{"presence key boolean", `{"config":{"presence":{"key":true}}}`, joinWant(func(c *JoinConfig) { c.Presence.Key = "true" })},
		{"postgres_changes absent", `{"config":{"private":false}}`, joinWant(nil)},
		{"postgres_changes null", `{"config":{"postgres_changes":null}}`, joinWant(nil)},
		{"postgres_changes null entries dropped", `{"config":{"postgres_changes":[null,{"event":"*","schema":"public"},null]}}`,
			joinWant(func(c *JoinConfig) {
				c.PostgresChanges = []PostgresBinding{binding("*", "public", "", "", `{"event":"*","schema":"public"}`)}
			})},
		{"binding raw kept as sent, select and unknown keys included", `{"config":{"postgres_changes":[ { "event" : "UPDATE","schema":"s","table":"t","select":"a,b","x":[1]} ]}}`,
			joinWant(func(c *JoinConfig) {
				c.PostgresChanges = []PostgresBinding{binding("UPDATE", "s", "t", "", `{ "event" : "UPDATE","schema":"s","table":"t","select":"a,b","x":[1]}`)}
			})},
		{"binding null fields", `{"config":{"postgres_changes":[{"event":"*","schema":"public","table":null,"filter":null}]}}`,
			joinWant(func(c *JoinConfig) {
				c.PostgresChanges = []PostgresBinding{binding("*", "public", "", "", `{"event":"*","schema":"public","table":null,"filter":null}`)}
			})},
		{"empty binding object", `{"config":{"postgres_changes":[{}]}}`,
			joinWant(func(c *JoinConfig) { c.PostgresChanges = []PostgresBinding{binding("", "", "", "", `{}`)} })},
		{"wait with timeout", `{"config":{"postgres_changes_options":{"wait":true,"timeout":5000}}}`,
			joinWant(func(c *JoinConfig) { c.Wait, c.WaitTimeout = true, 5*time.Second })},
		{"wait default timeout", `{"config":{"postgres_changes_options":{"wait":true}}}`,
			joinWant(func(c *JoinConfig) { c.Wait = true })},
		{"timeout capped", `{"config":{"postgres_changes_options":{"wait":true,"timeout":600000}}}`,
			joinWant(func(c *JoinConfig) { c.Wait, c.WaitTimeout = true, MaxWaitTimeout })},
		{"timeout as string", `{"config":{"postgres_changes_options":{"wait":true,"timeout":"1500"}}}`,
			joinWant(func(c *JoinConfig) { c.Wait, c.WaitTimeout = true, 1500*time.Millisecond })},
		{"timeout without wait", `{"config":{"postgres_changes_options":{"timeout":1000}}}`,
			joinWant(func(c *JoinConfig) { c.WaitTimeout = time.Second })},
		{"options empty", `{"config":{"postgres_changes_options":{}}}`, joinWant(nil)},
		{"white space around", " \n{\"config\" : { \"private\" : true } }\n", joinWant(func(c *JoinConfig) { c.Private = true })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJoin(json.RawMessage(tc.in))
			if err != nil {
				t.Fatalf("ParseJoin(%s): %v", tc.in, err)
			}
			if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ParseJoin(%s) mismatch (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

// TestParseJoinInvalidValues: wrong types take their defaults, the join
// goes ahead, and Invalid says what was ignored.
func TestParseJoinInvalidValues(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		want        JoinConfig // without Invalid
		wantInvalid []string
	}{
		{"config not an object", `{"config":["test"]}`, joinWant(nil), []string{`config: want an object, got ["test"]`}},
		{"bad booleans", `{"config":{"broadcast":{"ack":"a","self":1},"presence":{"enabled":"no"},"private":"yes"}}`, joinWant(nil), []string{
			`config.broadcast.self: want a boolean, got 1`, `config.broadcast.ack: want a boolean, got "a"`,
			`config.presence.enabled: want a boolean, got "no"`, `config.private: want a boolean, got "yes"`}},
		{"broadcast not an object", `{"config":{"broadcast":"yes","presence":[]}}`, joinWant(nil), []string{
			`config.broadcast: want an object, got "yes"`, `config.presence: want an object, got []`}},
		{"replay not an object", `{"config":{"broadcast":{"replay":123}}}`, joinWant(nil), []string{`config.broadcast.replay: want an object, got 123`}},
		{"presence key object", `{"config":{"presence":{"key":{"a":1},"enabled":true}}}`, joinWant(func(c *JoinConfig) { c.Presence.Enabled = true }),
			[]string{`config.presence.key: want a string, got {"a":1}`}},
		{"tokens of the wrong type", `{"access_token":true,"user_token":5}`, joinWant(nil), []string{
			`access_token: want a string, got true`, `user_token: want a string, got 5`}},
		{"postgres_changes an object", `{"config":{"postgres_changes":{"event":"test"}}}`, joinWant(nil), []string{
			`config.postgres_changes: want an array, got {"event":"test"}`}},
		{"binding field of the wrong type", `{"config":{"postgres_changes":[{"event":5,"schema":"public"}]}}`,
			joinWant(func(c *JoinConfig) {
				c.PostgresChanges = []PostgresBinding{binding("", "public", "", "", `{"event":5,"schema":"public"}`)}
			}), []string{`config.postgres_changes[0].event: want a string, got 5`}},
		{"timeout soon", `{"config":{"postgres_changes_options":{"wait":true,"timeout":"soon"}}}`, joinWant(func(c *JoinConfig) { c.Wait = true }),
			[]string{`config.postgres_changes_options.timeout: want a positive integer (ms), got "soon"`}},
		{"timeout zero", `{"config":{"postgres_changes_options":{"timeout":0}}}`, joinWant(nil),
			[]string{`config.postgres_changes_options.timeout: want a positive integer (ms), got 0`}},
		{"timeout decimal", `{"config":{"postgres_changes_options":{"timeout":1.5}}}`, joinWant(nil),
			[]string{`config.postgres_changes_options.timeout: want a positive integer (ms), got 1.5`}},
		{"options not an object", `{"config":{"postgres_changes_options":123}}`, joinWant(nil),
			[]string{`config.postgres_changes_options: want an object, got 123`}},
		{"long value shortened", `{"config":{"private":"` + strings.Repeat("y", 100) + `"}}`, joinWant(nil),
			[]string{`config.private: want a boolean, got "` + strings.Repeat("y", 36) + `...`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJoin(json.RawMessage(tc.in))
			if err != nil {
				t.Fatalf("ParseJoin(%s): %v", tc.in, err)
			}
			gotInvalid := got.Invalid
			got.Invalid = nil
			if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ParseJoin(%s) mismatch (-want +got):\n%s", tc.in, d)
			}
			if d := cmp.Diff(tc.wantInvalid, gotInvalid, cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
				t.Errorf("ParseJoin(%s).Invalid mismatch (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

func TestParseJoinErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"empty", ``, "join payload: empty, want a JSON object"},
		{"spaces", `  `, "join payload: empty, want a JSON object"},
		{"null", `null`, "join payload: want a JSON object, got null"},
		{"array", `[1]`, "join payload: want a JSON object, got an array"},
		{"string", `"x"`, "join payload: want a JSON object, got a string"},
		{"invalid JSON", `{"config":`, "join payload: not valid JSON"},
		{"garbage", `nope`, "join payload: not valid JSON"},
		{"binding a string", `{"config":{"postgres_changes":["INSERT"]}}`, "join payload: config.postgres_changes[0]: want an object, got a string"},
		{"binding an array after a good one", `{"config":{"postgres_changes":[{"event":"*"},[1]]}}`, "join payload: config.postgres_changes[1]: want an object, got an array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJoin(json.RawMessage(tc.in))
			if err == nil {
				t.Fatalf("ParseJoin(%q) = %+v, want an error", tc.in, got)
			}
			if !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("ParseJoin(%q) error = %q, want %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestAppendBindingWithID(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		id   uint64
		want string
	}{
		{"captured", `{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"}`, 106243155,
			`{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1","id":106243155}`},
		{"empty object", `{}`, 0, `{"id":0}`},
		{"empty object with spaces kept", " { \n } ", 7, " { \n \"id\":7}"},
		{"spaces before the brace", `{"a":1 } `, 1, `{"a":1 ,"id":1}`},
		{"brace inside a string value", `{"filter":"x=eq.}"}`, 2, `{"filter":"x=eq.}","id":2}`},
		{"largest JSON-safe id", `{"event":"*"}`, 1<<53 - 1, `{"event":"*","id":9007199254740991}`},
		{"not an object", `[1]`, 3, `{"id":3}`},
		{"empty", ``, 4, `{"id":4}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendBindingWithID([]byte(`[`), json.RawMessage(tc.raw), tc.id)
			if want := "[" + tc.want; string(got) != want {
				t.Errorf("AppendBindingWithID(%q, %d) = %s, want %s", tc.raw, tc.id, got, want)
			}
			if !json.Valid(got[1:]) {
				t.Errorf("invalid JSON: %s", got[1:])
			}
		})
	}
}

// TestJoinReplyEcho builds the reply body from ParseJoin's bindings and
// checks the client's keys come back unchanged, as realtime-js compares them.
func TestJoinReplyEcho(t *testing.T) {
	cfg, err := ParseJoin(json.RawMessage(`{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"},{"event":"*","schema":"public","table":"todos","select":"id"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	out := []byte(`{"status":"ok","response":{"postgres_changes":[`)
	for i, b := range cfg.PostgresChanges {
		if i > 0 {
			out = append(out, ',')
		}
		out = AppendBindingWithID(out, b.Raw, uint64(i+1))
	}
	out = append(out, "]}}"...)
	want := `{"status":"ok","response":{"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1","id":1},{"event":"*","schema":"public","table":"todos","select":"id","id":2}]}}`
	if string(out) != want {
		t.Errorf("reply =\n%s\nwant\n%s", out, want)
	}
}
