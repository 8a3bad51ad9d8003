package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/walcast/walcast/phoenix"
)

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		name     string
		b        Backoff
		n        int
		min, max time.Duration
	}{
		{"defaults first", Backoff{}, 0, 500 * time.Millisecond, time.Second},
		{"defaults grow", Backoff{}, 2, 2 * time.Second, 4 * time.Second},
		{"defaults capped", Backoff{}, 50, 5 * time.Second, 10 * time.Second},
		{"no jitter", Backoff{Min: time.Second, Max: time.Minute, Factor: 3, Jitter: -1}, 2, 9 * time.Second, 9 * time.Second},
		{"full jitter", Backoff{Min: time.Second, Jitter: 1}, 0, 0, time.Second},
		{"huge attempt", Backoff{Min: time.Second, Max: time.Hour, Jitter: -1}, 1 << 20, time.Hour, time.Hour},
		{"max below min", Backoff{Min: time.Second, Max: time.Millisecond, Jitter: -1}, 3, time.Second, time.Second},
		{"negative attempt", Backoff{Min: time.Second, Jitter: -1}, -3, time.Second, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				if d := tc.b.Delay(tc.n); d < tc.min || d > tc.max {
					t.Fatalf("Delay(%d) = %v, want in [%v, %v]", tc.n, d, tc.min, tc.max)
				}
			}
		})
	}
	// Jitter spreads the delays.
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[Backoff{}.Delay(3)] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 jittered delays took only %d values", len(seen))
	}
}

func TestWebsocketURL(t *testing.T) {
	tests := []struct {
		in   string
		v    phoenix.Version
		want string
		err  string
	}{
		{"http://localhost:4000", phoenix.V2, "ws://localhost:4000/realtime/v1/websocket?apikey=K&vsn=2.0.0", ""},
		{"https://abc.supabase.co/realtime/v1", phoenix.V2, "wss://abc.supabase.co/realtime/v1/websocket?apikey=K&vsn=2.0.0", ""},
		{"ws://h/socket/", phoenix.V1, "ws://h/socket/websocket?apikey=K&vsn=1.0.0", ""},
		{"wss://h/realtime/v1/websocket?log_level=info&apikey=old", phoenix.V2, "wss://h/realtime/v1/websocket?apikey=K&log_level=info&vsn=2.0.0", ""},
		{"ftp://h", phoenix.V2, "", "want an http"},
		{"http://", phoenix.V2, "", "no host"},
		{"://x", phoenix.V2, "", "missing protocol scheme"},
	}
	for _, tc := range tests {
		got, err := websocketURL(tc.in, "K", tc.v)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("websocketURL(%q) = %q, %v, want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("websocketURL(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCursorAfter(t *testing.T) {
	tests := []struct {
		last, c string
		want    bool
	}{
		{"", "0000000001A2B3C8-00000001", true},
		{"0000000001A2B3C8-00000001", "0000000001A2B3C8-00000002", true},
		{"0000000001A2B3C8-00000002", "0000000001A2B3C8-00000002", false},
		{"0000000001A2B3C8-00000002", "0000000001A2B3C8-00000001", false},
		{"0000000001A2B3C8-00000009", "0000000001A2B3D0-00000001", true},
		{"0000000001A2B3C8-00000001", "", true},      // no cursor: delivered
		{"0000000001A2B3C8-00000001", "other", true}, // another format: not compared
	}
	for _, tc := range tests {
		if got := cursorAfter(tc.last, tc.c); got != tc.want {
			t.Errorf("cursorAfter(%q, %q) = %v, want %v", tc.last, tc.c, got, tc.want)
		}
	}
}

func TestDecodeChange(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Change
		ids     string
		err     bool
	}{
		{"update", `{"ids":[7,9],"data":{"schema":"public","table":"t","type":"UPDATE","commit_timestamp":"2025-11-19T00:22:40.877Z",` +
			`"columns":[{"name":"id","type":"int8","primary_key":true}],"record":{"id":1},"old_record":{"id":1},"unchanged_toast":["body"],` +
			`"errors":null,"cursor":"0000000001A2B3C8-00000001"}}`,
			Change{Schema: "public", Table: "t", Type: "UPDATE", CommitTimestamp: time.Date(2025, 11, 19, 0, 22, 40, 877e6, time.UTC),
				Columns: []Column{{"id", "int8", true}}, Record: json.RawMessage(`{"id":1}`), OldRecord: json.RawMessage(`{"id":1}`),
				UnchangedToast: []string{"body"}, Cursor: "0000000001A2B3C8-00000001"}, "[7 9]", false},
		{"supabase 401", `{"ids":[1],"data":{"schema":"public","table":"t","type":"INSERT","commit_timestamp":null,"columns":[],"record":{},"errors":["Error 401: Unauthorized"]}}`,
			Change{Schema: "public", Table: "t", Type: "INSERT", Columns: []Column{}, Record: json.RawMessage(`{}`), Errors: []string{"Error 401: Unauthorized"}}, "[1]", false},
		{"delete with null record", `{"ids":[1],"data":{"type":"DELETE","record":null,"old_record":{"id":2}}}`,
			Change{Type: "DELETE", OldRecord: json.RawMessage(`{"id":2}`)}, "[1]", false},
		{"ids not numbers", `{"ids":["x"],"data":{}}`, Change{}, "", true},
		{"not an object", `[1]`, Change{}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ids, err := decodeChange([]byte(tc.payload))
			if tc.err {
				if err == nil {
					t.Fatalf("decodeChange accepted %s", tc.payload)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("decodeChange (-want +got):\n%s", d)
			}
			if s := fmt.Sprint(ids); s != tc.ids {
				t.Errorf("ids = %s, want %s", s, tc.ids)
			}
		})
	}
}

// TestPresenceSync checks the merge against phoenix.js's Presence on the
// cases its own tests cover: a state, a diff before the state, an update
// (join with a new ref and leave of the old one in one diff), a key whose
// last meta leaves, and a state that replaces what was there.
func TestPresenceSync(t *testing.T) {
	meta := func(ref string) json.RawMessage { return json.RawMessage(`{"phx_ref":"` + ref + `"}`) }
	var log []string
	ch := &Channel{c: &Client{}}
	ch.pres.onJoin = []func(string, []Presence, []Presence){func(key string, cur, joined []Presence) {
		log = append(log, fmt.Sprintf("join %s cur=%s new=%s", key, refs(cur), refs(joined)))
	}}
	ch.pres.onLeave = []func(string, []Presence, []Presence){func(key string, cur, left []Presence) {
		log = append(log, fmt.Sprintf("leave %s cur=%s left=%s", key, refs(cur), refs(left)))
	}}
	ch.pres.onSync = []func(PresenceState){func(s PresenceState) {
		log = append(log, "sync "+stateString(s))
	}}
	entry := func(refs ...string) presenceEntry {
		var e presenceEntry
		for _, r := range refs {
			e.Metas = append(e.Metas, meta(r))
		}
		return e
	}
	step := func(name string, f func(), want ...string) {
		t.Helper()
		log = nil
		f()
		if d := cmp.Diff(want, log); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}

	step("diff before the state is held", func() {
		ch.applyPresenceDiff(presenceDiff{Joins: map[string]presenceEntry{"c": entry("c1")}}, "j1")
	})
	step("state, then the held diff", func() {
		ch.applyPresenceState(toState(map[string]presenceEntry{"a": entry("a1"), "b": entry("b1")}), "j1")
	}, "join a cur=[] new=[a1]", "join b cur=[] new=[b1]", "join c cur=[] new=[c1]", "sync a=[a1] b=[b1] c=[c1]")
	step("update: new ref joins, old leaves", func() {
		ch.applyPresenceDiff(presenceDiff{Joins: map[string]presenceEntry{"a": entry("a2")}, Leaves: map[string]presenceEntry{"a": entry("a1")}}, "j1")
	}, "join a cur=[a1] new=[a2]", "leave a cur=[a2] left=[a1]", "sync a=[a2] b=[b1] c=[c1]")
	step("second meta of a key", func() {
		ch.applyPresenceDiff(presenceDiff{Joins: map[string]presenceEntry{"b": entry("b2")}}, "j1")
	}, "join b cur=[b1] new=[b2]", "sync a=[a2] b=[b1 b2] c=[c1]")
	step("last meta leaves", func() {
		ch.applyPresenceDiff(presenceDiff{Leaves: map[string]presenceEntry{"c": entry("c1")}}, "j1")
	}, "leave c cur=[] left=[c1]", "sync a=[a2] b=[b1 b2]")
	step("leave of an unknown key", func() {
		ch.applyPresenceDiff(presenceDiff{Leaves: map[string]presenceEntry{"z": entry("z1")}}, "j1")
	}, "sync a=[a2] b=[b1 b2]")
	step("state of a rejoin replaces", func() {
		ch.applyPresenceState(toState(map[string]presenceEntry{"b": entry("b2", "b3"), "d": entry("d1")}), "j2")
	}, "join b cur=[b1 b2] new=[b3]", "join d cur=[] new=[d1]", "leave a cur=[] left=[a2]", "leave b cur=[b2 b3] left=[b1]", "sync b=[b2 b3] d=[d1]")
	step("diff of the old join is held", func() {
		ch.applyPresenceDiff(presenceDiff{Joins: map[string]presenceEntry{"e": entry("e1")}}, "j1")
	})
	if got := stateString(ch.PresenceState()); got != "b=[b2 b3] d=[d1]" {
		t.Errorf("PresenceState() = %s", got)
	}
}

func refs(ps []Presence) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Ref
	}
	return "[" + strings.Join(out, " ") + "]"
}

func stateString(s PresenceState) string {
	var parts []string
	for _, k := range sortedKeys(s) {
		parts = append(parts, k+"="+refs(s[k]))
	}
	return strings.Join(parts, " ")
}

// TestReplayConfigOnJoin: config.broadcast.replay as each join sends it:
// from Since on the first join, from the millisecond after the newest
// broadcast the channel got on a rejoin, none without Replay.
func TestReplayConfigOnJoin(t *testing.T) {
	since := time.UnixMilli(1_700_000_000_000)
	last := time.UnixMilli(1_700_000_123_456).Add(700 * time.Microsecond)
	tests := []struct {
		name      string
		replay    *ReplayConfig
		lastBcast time.Time
		want      string
	}{
		{"no replay", nil, time.Time{}, `{"self":true,"ack":false}`},
		{"first join", &ReplayConfig{Since: since, Limit: 10}, time.Time{}, `{"self":true,"ack":false,"replay":{"since":1700000000000,"limit":10}}`},
		{"server's limit", &ReplayConfig{Since: since}, time.Time{}, `{"self":true,"ack":false,"replay":{"since":1700000000000}}`},
		{"rejoin after a broadcast", &ReplayConfig{Since: since, Limit: 10}, last, `{"self":true,"ack":false,"replay":{"since":1700000123457,"limit":10}}`},
		{"rejoin without replay", nil, last, `{"self":true,"ack":false}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := &Channel{cfg: ChannelConfig{Private: true, Broadcast: BroadcastConfig{Self: true, Replay: tc.replay}}, lastBcast: tc.lastBcast}
			payload, _ := ch.joinPayload("")
			var p struct {
				Config struct{ Broadcast json.RawMessage }
			}
			if err := json.Unmarshal(payload, &p); err != nil {
				t.Fatal(err)
			}
			if got := string(p.Config.Broadcast); got != tc.want {
				t.Errorf("config.broadcast %s, want %s", got, tc.want)
			}
		})
	}
}
