package transport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/phoenix"
)

const replayRoom = "realtime:replay-room"

// replayJoin is a private join asking to replay with the given
// config.broadcast.replay (raw JSON).
func replayJoin(replay string) string {
	return `{"config":{"broadcast":{"self":false,"replay":` + replay + `},"private":true}}`
}

// broadcastOf decodes a text broadcast frame's payload.
func broadcastOf(t *testing.T, vsn phoenix.Version, r rawFrame) (event string, payload, meta map[string]any) {
	t.Helper()
	f, err := parseRaw(vsn, r)
	if err != nil || f.Event != evBroadcast {
		t.Fatalf("want a broadcast, got %s (%v)", r, err)
	}
	var p struct {
		Event   string
		Payload map[string]any
		Meta    map[string]any
	}
	if err := json.Unmarshal(f.Payload, &p); err != nil {
		t.Fatalf("broadcast payload %s: %v", f.Payload, err)
	}
	return p.Event, p.Payload, p.Meta
}

// A private join with config.broadcast.replay gets the newest retained
// broadcasts of its room sent since `since` (at most `limit`), oldest
// first, marked meta.replayed, right after its reply; then live ones,
// unmarked. Other rooms, public rooms and presence are not replayed.
func TestBroadcastReplay(t *testing.T) {
	for _, vsn := range versions {
		t.Run(vsn.String(), func(t *testing.T) {
			e := newEnv(t, Config{})
			sender := e.dial(t, phoenix.V2)
			sender.joinRoom(replayRoom, "1", false, false, true)
			sender.joinRoom("realtime:other", "2", false, false, true)
			public := e.dial(t, phoenix.V2)
			public.joinRoom(replayRoom, "3", false, false, false) // the public room of the same name
			push := func(joinRef, topic string, n int) {
				from := sender
				if joinRef == "3" {
					from = public
				}
				from.pushText(joinRef, "p"+strconv.Itoa(n), topic, fmt.Sprintf(`{"type":"broadcast","event":"n","payload":{"n":%d}}`, n))
			}
			for n := 1; n <= 4; n++ {
				push("1", replayRoom, n)
			}
			push("2", "realtime:other", 100)
			push("3", replayRoom, 200)
			sender.sync()
			public.sync()
			// A database or REST broadcast (KindUser) with an id of its own.
			e.s.publish(&broadcast.Envelope{Topic: "replay-room", Private: true, Kind: broadcast.KindUser,
				Event: "db", Meta: []byte(`{"id":"msg-5"}`), Payload: []byte(`{"n":5}`), JSON: true})
			sender.sync()
			public.sync()

			late := e.dial(t, vsn)
			f := late.join(replayRoom, "9", replayJoin(`{"since":0,"limit":3}`))
			if !jsonEqual(t, f.Payload, `{"status":"ok","response":{"postgres_changes":[]}}`) {
				t.Fatalf("join with replay: %s", f)
			}
			got := late.sync()
			if len(got) != 3 {
				t.Fatalf("replayed %d frames, want the newest 3: %v", len(got), got)
			}
			var ids []string
			for i, want := range []float64{3, 4, 5} {
				event, payload, meta := broadcastOf(t, vsn, got[i])
				if payload["n"] != want || meta["replayed"] != true {
					t.Errorf("replayed #%d: event %s payload %v meta %v, want n=%v with meta.replayed", i, event, payload, meta, want)
				}
				id, _ := meta["id"].(string)
				ids = append(ids, id)
			}
			if ids[2] != "msg-5" || ids[0] == "" || ids[0] == ids[1] {
				t.Errorf("replayed ids %q: want distinct ids, the database broadcast's own last", ids)
			}

			push("1", replayRoom, 6)
			sender.sync()
			live := late.sync()
			if len(live) != 1 {
				t.Fatalf("after the replay: %v, want the live broadcast once", live)
			}
			if _, payload, meta := broadcastOf(t, vsn, live[0]); payload["n"] != float64(6) || meta != nil {
				t.Errorf("live broadcast payload %v meta %v, want n=6 without meta", payload, meta)
			}

			// since after every kept broadcast: nothing.
			later := e.dial(t, vsn)
			future := time.Now().Add(time.Minute).UnixMilli()
			f = later.join(replayRoom, "9", replayJoin(fmt.Sprintf(`{"since":%d}`, future)))
			if !jsonEqual(t, f.Payload, `{"status":"ok","response":{"postgres_changes":[]}}`) {
				t.Fatalf("join with replay: %s", f)
			}
			expectFrames(t, "a join replaying from the future", later.sync())
		})
	}
}

// Replay config from hostile clients: refused on public channels and when
// malformed, as Supabase refuses it; the limit is clamped to 1..25.
func TestBroadcastReplayConfig(t *testing.T) {
	e := newEnv(t, Config{})
	sender := e.dial(t, phoenix.V2)
	sender.joinRoom(replayRoom, "1", false, false, true)
	for n := 1; n <= 30; n++ {
		sender.pushText("1", "p", replayRoom, fmt.Sprintf(`{"type":"broadcast","event":"n","payload":{"n":%d}}`, n))
	}
	sender.sync()
	refused := func(reason string) string {
		return `{"status":"error","response":{"reason":"` + reason + `"}}`
	}
	for _, tc := range []struct {
		name, payload string
		reply         string
		replayed      int
	}{
		{"public channel", `{"config":{"broadcast":{"replay":{"since":0}},"private":false}}`, refused(replayPublicRefused), 0},
		{"since missing", replayJoin(`{"limit":3}`), refused(replayInvalid), 0},
		{"since a string", replayJoin(`{"since":"0"}`), refused(replayInvalid), 0},
		{"since a fraction", replayJoin(`{"since":1.5}`), refused(replayInvalid), 0},
		{"since an exponent", replayJoin(`{"since":1e3}`), refused(replayInvalid), 0},
		{"since negative is before every broadcast", replayJoin(`{"since":-1,"limit":2}`), `{"status":"ok","response":{"postgres_changes":[]}}`, 2},
		{"since before year -9999", replayJoin(`{"since":-377705116800001}`), refused(replayInvalid), 0},
		{"since past year 9999", replayJoin(`{"since":99999999999999999}`), refused(replayInvalid), 0},
		{"since too big for int64", replayJoin(`{"since":123456789012345678901234567890}`), refused(replayInvalid), 0},
		{"limit a string", replayJoin(`{"since":0,"limit":"5"}`), refused(replayInvalid), 0},
		{"limit a fraction", replayJoin(`{"since":0,"limit":2.5}`), refused(replayInvalid), 0},
		{"limit 0 is 1", replayJoin(`{"since":0,"limit":0}`), `{"status":"ok","response":{"postgres_changes":[]}}`, 1},
		{"limit -7 is 1", replayJoin(`{"since":0,"limit":-7}`), `{"status":"ok","response":{"postgres_changes":[]}}`, 1},
		{"limit 1000 is 25", replayJoin(`{"since":0,"limit":1000}`), `{"status":"ok","response":{"postgres_changes":[]}}`, 25},
		{"limit missing is 25", replayJoin(`{"since":0}`), `{"status":"ok","response":{"postgres_changes":[]}}`, 25},
		{"limit null is 25", replayJoin(`{"since":0,"limit":null}`), `{"status":"ok","response":{"postgres_changes":[]}}`, 25},
		{"replay null: no replay", replayJoin(`null`), `{"status":"ok","response":{"postgres_changes":[]}}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t, phoenix.V2)
			f := c.join(replayRoom, "5", tc.payload)
			if !jsonEqual(t, f.Payload, tc.reply) {
				t.Fatalf("reply %s, want %s", f.Payload, tc.reply)
			}
			if got := c.sync(); len(got) != tc.replayed {
				t.Errorf("replayed %d broadcasts, want %d", len(got), tc.replayed)
			}
		})
	}
}

// A replay is authorized as the join is: a private topic the token may not
// read is refused, and nothing of it is replayed.
func TestBroadcastReplayAuthorized(t *testing.T) {
	p := &policy{readers: map[string]bool{"replay-room": true}, writers: map[string]bool{"replay-room/broadcast": true}}
	e := newEnv(t, Config{Authorizer: p})
	sender := e.dial(t, phoenix.V2)
	sender.joinRoom(replayRoom, "1", false, false, true)
	sender.pushText("1", "2", replayRoom, `{"type":"broadcast","event":"n","payload":{"n":1}}`)
	sender.sync()

	p.set(p.readers, "replay-room", false)
	c := e.dial(t, phoenix.V2)
	f := c.join(replayRoom, "5", replayJoin(`{"since":0}`))
	if !jsonEqual(t, f.Payload, `{"status":"error","response":{"reason":"`+errNoRead.Error()+`"}}`) {
		t.Fatalf("join with replay of an unreadable topic: %s", f)
	}
	expectFrames(t, "a refused join", c.sync())

	p.set(p.readers, "replay-room", true)
	c.join(replayRoom, "6", replayJoin(`{"since":0}`))
	if got := c.sync(); len(got) != 1 {
		t.Errorf("replayed %v once readable, want the one broadcast", got)
	}
}

// Broadcasts published while channels join with a replay reach each of
// them exactly once: replayed or live, in order, none missing after the
// first one it got.
func TestBroadcastReplayRacingPublishes(t *testing.T) {
	e := newEnv(t, Config{})
	sender := e.dial(t, phoenix.V2)
	sender.joinRoom(replayRoom, "1", false, false, true)
	const total = 400
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 1; n <= total; n++ {
			sender.pushText("1", "p", replayRoom, fmt.Sprintf(`{"type":"broadcast","event":"n","payload":{"n":%d}}`, n))
		}
	})
	var joiners []*client
	for i := range 8 {
		c := e.dial(t, phoenix.V2)
		if f := c.join(replayRoom, strconv.Itoa(10+i), replayJoin(`{"since":0,"limit":25}`)); !jsonEqual(t, f.Payload, `{"status":"ok","response":{"postgres_changes":[]}}`) {
			t.Fatalf("join: %s", f)
		}
		joiners = append(joiners, c)
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	sender.sync()
	for i, c := range joiners {
		var ns []int
		for len(ns) == 0 || ns[len(ns)-1] < total {
			r, err := c.readRaw(10 * time.Second)
			if err != nil {
				t.Fatalf("joiner %d: %v after %v", i, err, ns)
			}
			if r.binary {
				continue
			}
			if f, _ := parseRaw(phoenix.V2, r); f.Event != evBroadcast {
				continue
			}
			_, payload, _ := broadcastOf(t, phoenix.V2, r)
			ns = append(ns, int(payload["n"].(float64)))
		}
		for j := 1; j < len(ns); j++ {
			if ns[j] != ns[j-1]+1 {
				t.Errorf("joiner %d got %d after %d: a broadcast repeated or lost between replay and live (%v)", i, ns[j], ns[j-1], ns[max(0, j-3):min(len(ns), j+3)])
				break
			}
		}
	}
}

// With retention off nothing is kept, and a replay join gets nothing.
func TestBroadcastReplayRetentionOff(t *testing.T) {
	e := newEnv(t, Config{BroadcastRetention: &broadcast.Retention{}})
	sender := e.dial(t, phoenix.V2)
	sender.joinRoom(replayRoom, "1", false, false, true)
	sender.pushText("1", "2", replayRoom, `{"type":"broadcast","event":"n","payload":{"n":1}}`)
	sender.sync()
	c := e.dial(t, phoenix.V2)
	c.join(replayRoom, "5", replayJoin(`{"since":0}`))
	expectFrames(t, "a replay with retention off", c.sync())
}
