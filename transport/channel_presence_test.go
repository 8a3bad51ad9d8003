package transport

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"
)

const presRoom = "realtime:lobby"

// presJoin joins presRoom with presence enabled under key ("" omits it) and
// checks the reply and the presence_state that must follow; it returns the
// state.
func presJoin(t *testing.T, c *client, joinRef, key string) presState {
	t.Helper()
	p := map[string]any{"enabled": true}
	if key != "" {
		p["key"] = key
	}
	reply := c.join(presRoom, joinRef, map[string]any{"config": map[string]any{"presence": p}})
	checkC(t, c, reply, joinRef, joinRef, presRoom, "phx_reply", `{"status":"ok","response":{"postgres_changes":[]}}`)
	f := c.next()
	checkC(t, c, f, joinRef, "null", presRoom, "presence_state", "")
	return parseState(t, f.Payload)
}

// presPush sends a presence event and returns the reply.
func presPush(t *testing.T, c *client, joinRef, ref, body string) frame {
	t.Helper()
	c.send(joinRef, ref, presRoom, "presence", body)
	f := c.next()
	checkC(t, c, f, joinRef, ref, presRoom, "phx_reply", "")
	return f
}

func track(t *testing.T, c *client, joinRef, ref, meta string) {
	t.Helper()
	f := presPush(t, c, joinRef, ref, `{"type":"presence","event":"track","payload":`+meta+`}`)
	if !jsonEqual(t, f.Payload, `{"status":"ok","response":{}}`) {
		t.Fatalf("track reply %s", f)
	}
}

// presState is a decoded presence_state, or one side of a diff.
type presState map[string]struct {
	Metas []map[string]any `json:"metas"`
}

func parseState(t *testing.T, raw json.RawMessage) presState {
	t.Helper()
	var s presState
	if err := json.Unmarshal(raw, &s); err != nil || s == nil {
		t.Fatalf("bad state %s: %v", raw, err)
	}
	return s
}

type presDiff struct{ Joins, Leaves presState }

// nextDiff reads the next frame and checks that it is a presence_diff.
func nextDiff(t *testing.T, c *client) presDiff {
	t.Helper()
	f := c.next()
	checkC(t, c, f, "null", "null", presRoom, "presence_diff", "")
	var d presDiff
	if err := json.Unmarshal(f.Payload, &d); err != nil || d.Joins == nil || d.Leaves == nil {
		t.Fatalf("bad diff %s: %v", f.Payload, err)
	}
	return d
}

// only returns the single meta of key in s, failing unless s holds exactly
// that.
func only(t *testing.T, s presState, key string) map[string]any {
	t.Helper()
	if len(s) != 1 || len(s[key].Metas) != 1 {
		t.Fatalf("want one meta under %q, got %v", key, s)
	}
	return s[key].Metas[0]
}

// quiet checks that nothing is queued for c: the next frame answers a
// heartbeat sent now.
func quiet(t *testing.T, c *client) {
	t.Helper()
	c.send("", "hb", "phoenix", "heartbeat", `{}`)
	checkC(t, c, c.next(), "null", "hb", "phoenix", "phx_reply", "")
}

var refRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`)

func checkMeta(t *testing.T, m map[string]any, fields string) string {
	t.Helper()
	ref, _ := m["phx_ref"].(string)
	if !refRE.MatchString(ref) {
		t.Errorf("phx_ref %v is not a ref", m["phx_ref"])
	}
	user := map[string]any{}
	for k, v := range m {
		if k != "phx_ref" && k != "phx_ref_prev" {
			user[k] = v
		}
	}
	b, _ := json.Marshal(user)
	if !jsonEqual(t, b, fields) {
		t.Errorf("meta fields %s, want %s", b, fields)
	}
	return ref
}

// checkC is checkFrame for a frame c received: vsn 1.0.0 frames carry no
// join_ref.
func checkC(t *testing.T, c *client, f frame, joinRef, ref, topic, event, payload string) {
	t.Helper()
	if c.vsn == phoenix.V1 {
		joinRef = "null"
	}
	checkFrame(t, f, joinRef, ref, topic, event, payload)
}

func forBoth(t *testing.T, f func(t *testing.T, v phoenix.Version)) {
	for _, v := range []phoenix.Version{phoenix.V1, phoenix.V2} {
		t.Run(v.String(), func(t *testing.T) { f(t, v) })
	}
}

func TestPresenceStateOnJoin(t *testing.T) {
	forBoth(t, func(t *testing.T, v phoenix.Version) {
		e := newEnv(t, Config{})
		c := e.dial(t, v)
		if s := presJoin(t, c, "1", "me"); len(s) != 0 {
			t.Fatalf("empty room: state %v", s)
		}
		quiet(t, c)
		// Without presence: no state, and no diffs either.
		other := e.dial(t, v)
		checkC(t, other, other.join(presRoom, "3", `{"config":{"presence":{"enabled":false}}}`), "3", "3", presRoom, "phx_reply", "")
		quiet(t, other)
		track(t, c, "1", "2", `{"a":1}`)
		nextDiff(t, c)
		quiet(t, other)
	})
}

func TestPresenceTrackUpdateUntrack(t *testing.T) {
	forBoth(t, func(t *testing.T, v phoenix.Version) {
		e := newEnv(t, Config{})
		a, b := e.dial(t, v), e.dial(t, phoenix.V1+phoenix.V2-v) // one of each serializer
		presJoin(t, a, "1", "alice")
		presJoin(t, b, "1", "bob")

		// A track reaches everyone, the tracker included.
		track(t, a, "1", "2", `{"online_at":"now"}`)
		var ref string
		for _, c := range []*client{a, b} {
			d := nextDiff(t, c)
			if len(d.Leaves) != 0 {
				t.Errorf("leaves %v", d.Leaves)
			}
			r := checkMeta(t, only(t, d.Joins, "alice"), `{"online_at":"now"}`)
			if ref != "" && r != ref {
				t.Errorf("refs differ: %s, %s", ref, r)
			}
			ref = r
		}

		// The same payload again: ok, nothing else.
		track(t, a, "1", "3", `{ "online_at" : "now" }`)
		quiet(t, a)
		quiet(t, b)

		// Another payload: one diff, new meta with phx_ref_prev, old one leaving.
		track(t, a, "1", "4", `{"online_at":"later","status":"busy"}`)
		old := ref
		for _, c := range []*client{a, b} {
			d := nextDiff(t, c)
			joined := only(t, d.Joins, "alice")
			ref = checkMeta(t, joined, `{"online_at":"later","status":"busy"}`)
			if joined["phx_ref_prev"] != old || ref == old {
				t.Errorf("update joins %v, want phx_ref_prev %s and a new ref", joined, old)
			}
			if left := only(t, d.Leaves, "alice"); checkMeta(t, left, `{"online_at":"now"}`) != old {
				t.Errorf("update leaves %v, want ref %s", left, old)
			}
		}

		// A newcomer's state holds the meta.
		c := e.dial(t, v)
		s := presJoin(t, c, "7", "carol")
		if checkMeta(t, only(t, s, "alice"), `{"online_at":"later","status":"busy"}`) != ref {
			t.Errorf("state %v, want ref %s", s, ref)
		}

		// Untrack: a leave for everyone; a second untrack changes nothing.
		f := presPush(t, a, "1", "5", `{"type":"presence","event":"untrack"}`)
		checkC(t, a, f, "1", "5", presRoom, "phx_reply", `{"status":"ok","response":{}}`)
		for _, c := range []*client{a, b, c} {
			d := nextDiff(t, c)
			if len(d.Joins) != 0 || checkMeta(t, only(t, d.Leaves, "alice"), `{"online_at":"later","status":"busy"}`) != ref {
				t.Errorf("untrack diff %v", d)
			}
		}
		presPush(t, a, "1", "6", `{"type":"presence","event":"untrack"}`)
		quiet(t, a)
		quiet(t, b)
	})
}

func TestPresenceLeaves(t *testing.T) {
	for _, how := range []string{"disconnect", "phx_leave", "duplicate join"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, Config{})
			a, b := e.dial(t, phoenix.V2), e.dial(t, phoenix.V1)
			presJoin(t, a, "1", "alice")
			presJoin(t, b, "1", "bob")
			track(t, a, "1", "2", `{"x":1}`)
			nextDiff(t, a)
			ref := checkMeta(t, only(t, nextDiff(t, b).Joins, "alice"), `{"x":1}`)
			switch how {
			case "disconnect":
				a.ws.CloseNow()
			case "phx_leave":
				a.send("1", "3", presRoom, evLeave, `{}`)
				checkC(t, a, a.next(), "1", "3", presRoom, "phx_reply", `{"status":"ok","response":{}}`)
				checkC(t, a, a.next(), "1", "1", presRoom, "phx_close", `{}`)
				quiet(t, a) // no leave diff of its own after phx_close
			case "duplicate join":
				// The rejoin replaces the channel: its meta leaves, and the
				// new join gets a fresh state without it.
				a.send("4", "4", presRoom, evJoin, `{"config":{"presence":{"key":"alice","enabled":true}}}`)
				checkC(t, a, a.next(), "1", "1", presRoom, "phx_close", `{}`)
				checkC(t, a, a.next(), "4", "4", presRoom, "phx_reply", "")
				f := a.next()
				checkC(t, a, f, "4", "null", presRoom, "presence_state", "")
				if s := parseState(t, f.Payload); len(s) != 0 {
					t.Errorf("state after rejoin %v, want {}", s)
				}
			}
			d := nextDiff(t, b)
			if len(d.Joins) != 0 || checkMeta(t, only(t, d.Leaves, "alice"), `{"x":1}`) != ref {
				t.Errorf("leave diff %v", d)
			}
			quiet(t, b)
		})
	}
}

func TestPresenceRejoinGetsState(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.dial(t, phoenix.V2)
	presJoin(t, a, "1", "alice")
	track(t, a, "1", "2", `{"x":1}`)
	nextDiff(t, a)
	// A second socket of the same user, and the first one reconnecting.
	b := e.dial(t, phoenix.V1)
	s := presJoin(t, b, "1", "alice")
	checkMeta(t, only(t, s, "alice"), `{"x":1}`)
	track(t, b, "1", "2", `{"x":2}`)
	nextDiff(t, b)
	nextDiff(t, a)
	a.ws.CloseNow()
	nextDiff(t, b) // alice's first meta leaves
	a = e.dial(t, phoenix.V2)
	s = presJoin(t, a, "9", "alice")
	checkMeta(t, only(t, s, "alice"), `{"x":2}`)
}

func TestPresenceKey(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, cfg := range []string{`{"enabled":true}`, `{"enabled":true,"key":""}`, `{"enabled":true,"key":null}`} {
		t.Run(cfg, func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.dial(t, phoenix.V2)
			c.join(presRoom, "1", `{"config":{"presence":`+cfg+`}}`)
			c.next() // presence_state
			track(t, c, "1", "2", `{"n":1}`)
			var key string
			for k := range nextDiff(t, c).Joins {
				key = k
			}
			if !uuid.MatchString(key) {
				t.Fatalf("key %q is not a v4 UUID", key)
			}
			// Fixed for the channel: an update keeps it.
			track(t, c, "1", "3", `{"n":2}`)
			d := nextDiff(t, c)
			only(t, d.Joins, key)
			only(t, d.Leaves, key)
		})
	}
}

func TestPresenceTrackEnables(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.dial(t, phoenix.V1)
	presJoin(t, a, "1", "alice")
	track(t, a, "1", "2", `{"x":1}`)
	nextDiff(t, a)
	// b joined without presence: its first track sends the state (without
	// its own meta), then its join as a diff, to both.
	b := e.dial(t, phoenix.V2)
	checkC(t, b, b.join(presRoom, "1", `{"config":{"presence":{"key":"bob"}}}`), "1", "1", presRoom, "phx_reply", "")
	track(t, b, "1", "2", `{"y":2}`)
	f := b.next()
	checkC(t, b, f, "1", "null", presRoom, "presence_state", "")
	checkMeta(t, only(t, parseState(t, f.Payload), "alice"), `{"x":1}`)
	for _, c := range []*client{a, b} {
		checkMeta(t, only(t, nextDiff(t, c).Joins, "bob"), `{"y":2}`)
	}
	// Enabled once: a later track is a plain update.
	track(t, b, "1", "3", `{"y":3}`)
	nextDiff(t, b)
	nextDiff(t, a)
	quiet(t, b)
}

func TestPresencePushes(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
		response   string
		diff       string // the meta tracked, "" for no diff
	}{
		{"track", `{"type":"presence","event":"track","payload":{"a":1}}`, true, `{}`, `{"a":1}`},
		{"event case-insensitive", `{"type":"presence","event":"TRACK","payload":{"a":1}}`, true, `{}`, `{"a":1}`},
		{"no payload tracks {}", `{"type":"presence","event":"track"}`, true, `{}`, `{}`},
		{"server keys dropped", `{"event":"track","payload":{"phx_ref":"forged","a":1}}`, true, `{}`, `{"a":1}`},
		{"array payload", `{"type":"presence","event":"track","payload":[1]}`, false, `{"reason":"Presence track payload must be a map"}`, ""},
		{"string payload", `{"type":"presence","event":"track","payload":"x"}`, false, `{"reason":"Presence track payload must be a map"}`, ""},
		{"null payload", `{"type":"presence","event":"track","payload":null}`, false, `{"reason":"Presence track payload must be a map"}`, ""},
		{"unknown event", `{"type":"presence","event":"wave"}`, false, `{}`, ""},
		{"event not a string", `{"type":"presence","event":1}`, false, `{}`, ""},
		{"Unicode folding is not ASCII", `{"type":"presence","event":"trac\u212a","payload":{}}`, false, `{}`, ""},
		{"no event", `{"type":"presence"}`, true, `{}`, ""},
		{"payload not an object", `[1,2]`, true, `{}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.dial(t, phoenix.V2)
			presJoin(t, c, "1", "k")
			f := presPush(t, c, "1", "2", tc.body)
			status := "error"
			if tc.ok {
				status = "ok"
			}
			if want := `{"status":"` + status + `","response":` + tc.response + `}`; !jsonEqual(t, f.Payload, want) {
				t.Errorf("reply %s, want %s", f.Payload, want)
			}
			if tc.diff != "" {
				checkMeta(t, only(t, nextDiff(t, c).Joins, "k"), tc.diff)
			}
			quiet(t, c)
		})
	}
}

func TestPresenceRoomsApart(t *testing.T) {
	e := newEnv(t, Config{})
	pub, priv := e.dial(t, phoenix.V2), e.dial(t, phoenix.V2)
	presJoin(t, pub, "1", "a")
	priv.join(presRoom, "1", `{"config":{"private":true,"presence":{"key":"b","enabled":true}}}`)
	if s := parseState(t, priv.next().Payload); len(s) != 0 {
		t.Fatalf("private state %v", s)
	}
	track(t, pub, "1", "2", `{}`)
	nextDiff(t, pub)
	quiet(t, priv)
	// Another topic is another room.
	c := e.dial(t, phoenix.V1)
	c.join("realtime:other", "1", `{"config":{"presence":{"enabled":true}}}`)
	checkC(t, c, c.next(), "1", "null", "realtime:other", "presence_state", `{}`)
}

func TestPresenceRateLimit(t *testing.T) {
	forBoth(t, func(t *testing.T, v phoenix.Version) {
		e := newEnv(t, Config{})
		a, b := e.dial(t, v), e.dial(t, v)
		presJoin(t, a, "1", "a")
		presJoin(t, b, "1", "b")
		for i := range DefaultPresenceMaxCalls {
			track(t, a, "1", fmt.Sprint(10+i), fmt.Sprintf(`{"i":%d}`, i))
			nextDiff(t, a)
			nextDiff(t, b)
		}
		a.send("1", "20", presRoom, "presence", `{"type":"presence","event":"track","payload":{"i":99}}`)
		checkC(t, a, a.next(), "1", "null", presRoom, "system",
			`{"extension":"system","status":"error","message":"Client presence rate limit exceeded","channel":"lobby"}`)
		checkC(t, a, a.next(), "1", "1", presRoom, "phx_close", `{}`)
		quiet(t, a)
		// The closed channel's meta leaves.
		d := nextDiff(t, b)
		checkMeta(t, only(t, d.Leaves, "a"), fmt.Sprintf(`{"i":%d}`, DefaultPresenceMaxCalls-1))
	})
}

func TestPresenceRateWindow(t *testing.T) {
	e := newEnv(t, Config{PresenceMaxCalls: 2, PresenceWindow: 300 * time.Millisecond})
	c := e.dial(t, phoenix.V2)
	presJoin(t, c, "1", "k")
	start := time.Now()
	presPush(t, c, "1", "2", `{"event":"untrack"}`)
	presPush(t, c, "1", "3", `{"event":"untrack"}`)
	time.Sleep(time.Until(start.Add(400 * time.Millisecond)))
	// A new window: two more.
	presPush(t, c, "1", "4", `{"event":"untrack"}`)
	presPush(t, c, "1", "5", `{"event":"untrack"}`)
	if time.Since(start) > 650*time.Millisecond {
		t.Skip("too slow to stay within one window")
	}
	c.send("1", "6", presRoom, "presence", `{"event":"untrack"}`)
	checkC(t, c, c.next(), "1", "null", presRoom, "system", "")
	checkC(t, c, c.next(), "1", "1", presRoom, "phx_close", `{}`)

	// Negative: no limit.
	e = newEnv(t, Config{PresenceMaxCalls: -1})
	c = e.dial(t, phoenix.V1)
	presJoin(t, c, "1", "k")
	for i := range 20 {
		presPush(t, c, "1", fmt.Sprint(i+2), `{"event":"untrack"}`)
	}
}

func TestPresenceTrackTooLarge(t *testing.T) {
	e := newEnv(t, Config{MaxPayloadBytes: 100})
	a, b := e.dial(t, phoenix.V1), e.dial(t, phoenix.V2)
	presJoin(t, a, "1", "a")
	presJoin(t, b, "1", "b")
	track(t, a, "1", "2", `{"small":true}`)
	nextDiff(t, a)
	nextDiff(t, b)
	a.send("1", "3", presRoom, "presence", `{"event":"track","payload":{"big":"`+strings.Repeat("x", 100)+`"}}`)
	checkC(t, a, a.next(), "1", "null", presRoom, "system",
		`{"extension":"system","status":"error","message":"Track message size exceeded","channel":"lobby"}`)
	checkC(t, a, a.next(), "1", "1", presRoom, "phx_close", `{}`)
	checkMeta(t, only(t, nextDiff(t, b).Leaves, "a"), `{"small":true}`)
	quiet(t, b)
}

// TestPresenceConcurrentJoins joins and tracks from many sockets at once:
// every socket must end up with the same membership, built from its state
// and the diffs after it (the state/subscribe step is atomic).
func TestPresenceConcurrentJoins(t *testing.T) {
	const n = 12
	e := newEnv(t, Config{})
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = e.dial(t, phoenix.Version(1+i%2))
	}
	members := make([]map[string]bool, n)
	done := make(chan int)
	for i, c := range clients {
		go func() {
			defer func() { done <- i }()
			key := fmt.Sprint("k", i)
			c.send("1", "1", presRoom, evJoin, fmt.Sprintf(`{"config":{"presence":{"key":%q,"enabled":true}}}`, key))
			c.send("1", "2", presRoom, "presence", `{"event":"track","payload":{}}`)
			m := map[string]bool{}
			for len(m) < n {
				f, err := c.read(10 * time.Second)
				if err != nil {
					t.Errorf("client %d: %v with %v", i, err, m)
					return
				}
				var d presDiff
				switch f.Event {
				case "presence_state":
					json.Unmarshal(f.Payload, &d.Joins)
				case "presence_diff":
					json.Unmarshal(f.Payload, &d)
				}
				for k := range d.Joins {
					if m[k] {
						t.Errorf("client %d: %s joined twice", i, k)
					}
					m[k] = true
				}
				if len(d.Leaves) > 0 {
					t.Errorf("client %d: unexpected leaves %v", i, d.Leaves)
				}
			}
			members[i] = m
		}()
	}
	for range n {
		<-done
	}
	for i, c := range clients {
		quiet(t, c)
		if len(members[i]) != n {
			t.Errorf("client %d sees %d members", i, len(members[i]))
		}
	}
}
