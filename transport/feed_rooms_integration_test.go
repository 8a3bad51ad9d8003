package transport

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"
)

// postBroadcast publishes through the REST batch endpoint.
func postBroadcast(t *testing.T, baseURL, key, topic, event string, private bool, payload string) {
	t.Helper()
	body := fmt.Sprintf(`{"messages":[{"topic":%q,"event":%q,"payload":%s,"private":%t}]}`, topic, event, payload, private)
	req, _ := http.NewRequest("POST", baseURL+"/api/broadcast", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/broadcast: %d %s", resp.StatusCode, b)
	}
}

// dialFeedEnv opens a WebSocket to e's server.
func (e *feedEnv) dial(t *testing.T, vsn phoenix.Version) *client {
	t.Helper()
	url := "ws" + strings.TrimPrefix(e.url, "http") + "/realtime/v1/websocket?vsn=" + vsn.String() + "&apikey=" + e.key
	return (&testEnv{}).dialURL(t, vsn, url)
}

// expectEvent reads the next event and checks its name, that it has no
// id, and that its data is the JSON want.
func (s *sseStream) expectEvent(t *testing.T, event, want string) {
	t.Helper()
	ev := s.next(t)
	if ev.event != event || ev.id != "" || !jsonEqual(t, json.RawMessage(ev.data), want) {
		t.Fatalf("event %q id %q data %s, want %q without id, data %s", ev.event, ev.id, ev.data, event, want)
	}
}

// One SSE stream carries postgres_changes, broadcasts from REST and from
// a WebSocket client, and a room's presence state and diffs, each kind as
// realtime-js hands it to a callback, with the topic added.
func TestSSECarriesEveryKind(t *testing.T) {
	e := newFeedEnv(t)
	url := e.url + "/realtime/v1/sse?apikey=" + e.key + "&table=items" +
		"&broadcast=room1&broadcast=realtime:room2&broadcast=room1&presence=room1"
	s := openSSE(t, url, "")
	defer s.body.Close()
	if ev := s.next(t); ev.event != "system" || !strings.Contains(ev.data, "Subscribed to PostgreSQL") || ev.id == "" {
		t.Fatalf("first event %+v, want the postgres_changes status with an id", ev)
	}
	s.expectEvent(t, "system", `{"extension":"broadcast","status":"ok","message":"Subscribed to broadcast","channel":"sse"}`)
	s.expectEvent(t, "system", `{"extension":"presence","status":"ok","message":"Subscribed to presence","channel":"sse"}`)
	s.expectEvent(t, "presence_state", `{"topic":"room1","state":{}}`)

	// REST: the private room of the same name is another room.
	postBroadcast(t, e.url, e.key, "room1", "secret", true, `{"x":0}`)
	postBroadcast(t, e.url, e.key, "room1", "greet", false, `{"x":1}`)
	s.expectEvent(t, "broadcast", `{"topic":"room1","type":"broadcast","event":"greet","payload":{"x":1}}`)

	// A WebSocket client's text push, forwarded with whatever it holds.
	for i, vsn := range []phoenix.Version{phoenix.V1, phoenix.V2} {
		ws := e.dial(t, vsn)
		ws.joinRoom("realtime:room2", "1", false, false, false)
		ws.pushText("1", "2", "realtime:room2", fmt.Sprintf(`{"type":"broadcast","event":"hi","payload":{"y":%d},"extra":true}`, i))
		s.expectEvent(t, "broadcast", fmt.Sprintf(`{"topic":"room2","type":"broadcast","event":"hi","payload":{"y":%d},"extra":true}`, i))
	}

	// Changes still carry their cursor.
	e.insert(t, 1, 1)
	if id, cursor := s.nextChange(t); id != 1 || cursor == "" {
		t.Fatalf("change %d with cursor %q", id, cursor)
	}

	// Presence: a WebSocket client tracks, then leaves.
	ws := e.dial(t, phoenix.V1)
	ws.join("realtime:room1", "1", `{"config":{"presence":{"key":"alice","enabled":true}}}`)
	ws.send("1", "2", "realtime:room1", "presence", `{"type":"presence","event":"track","payload":{"name":"Alice"}}`)
	ev := s.next(t)
	var diff struct {
		Topic  string
		Joins  map[string]struct{ Metas []map[string]any }
		Leaves map[string]any
	}
	if ev.event != "presence_diff" || ev.id != "" || json.Unmarshal([]byte(ev.data), &diff) != nil ||
		diff.Topic != "room1" || len(diff.Leaves) != 0 || len(diff.Joins["alice"].Metas) != 1 || diff.Joins["alice"].Metas[0]["name"] != "Alice" {
		t.Fatalf("after a track: %+v, want a presence_diff joining alice", ev)
	}
	ws.send("1", "3", "realtime:room1", "phx_leave", `{}`)
	ev = s.next(t)
	diff.Joins, diff.Leaves = nil, nil
	if ev.event != "presence_diff" || json.Unmarshal([]byte(ev.data), &diff) != nil || len(diff.Joins) != 0 || diff.Leaves["alice"] == nil {
		t.Fatalf("after a leave: %+v, want a presence_diff of alice leaving", ev)
	}
}

// A stream that joins a room where someone is present gets them in its
// presence_state.
func TestSSEPresenceState(t *testing.T) {
	e := newFeedEnv(t)
	ws := e.dial(t, phoenix.V2)
	ws.join("realtime:lobby", "1", `{"config":{"presence":{"key":"bob","enabled":true}}}`)
	ws.send("1", "2", "realtime:lobby", "presence", `{"type":"presence","event":"track","payload":{"n":1}}`)
	for f := ws.next(); refString(f.Ref) != "2"; f = ws.next() {
	} // the track is answered once the store has it
	s := openSSE(t, e.url+"/realtime/v1/sse?apikey="+e.key+"&presence=lobby", "")
	defer s.body.Close()
	s.next(t) // the status
	ev := s.next(t)
	var state struct {
		Topic string
		State map[string]struct{ Metas []map[string]any }
	}
	if ev.event != "presence_state" || json.Unmarshal([]byte(ev.data), &state) != nil ||
		state.Topic != "lobby" || len(state.State["bob"].Metas) != 1 || state.State["bob"].Metas[0]["n"] != 1.0 {
		t.Fatalf("second event %+v, want a presence_state with bob", ev)
	}
}

// A long-poll with a broadcast room answers with the broadcasts published
// while it waits, beside changes, and keeps the changes' cursor.
func TestLongPollBroadcast(t *testing.T) {
	e := newFeedEnv(t)
	url := e.url + "/realtime/v1/poll?apikey=" + e.key + "&table=items&broadcast=room1&wait=10"
	type answer struct {
		Cursor string
		Gap    bool
		Events []struct {
			Event   string
			Cursor  *string
			Payload json.RawMessage
		}
	}
	got := make(chan answer, 1)
	go func() {
		var ans answer
		resp, err := http.Get(url)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&ans)
			resp.Body.Close()
		}
		if err != nil {
			t.Errorf("poll: %v", err)
		}
		got <- ans
	}()
	// The poll is in the room once its subscription is in; until then
	// nothing keeps a broadcast for it.
	var ans answer
	for i := 0; ; i++ {
		postBroadcast(t, e.url, e.key, "room1", "tick", false, `{"i":1}`)
		select {
		case ans = <-got:
		case <-time.After(100 * time.Millisecond):
			if i > 100 {
				t.Fatal("the poll did not answer a broadcast")
			}
			continue
		}
		break
	}
	if len(ans.Events) == 0 || ans.Gap || ans.Cursor == "" {
		t.Fatalf("answer %+v, want broadcasts and the feed's cursor", ans)
	}
	for _, ev := range ans.Events {
		if ev.Event != "broadcast" || ev.Cursor != nil || !jsonEqual(t, ev.Payload, `{"topic":"room1","type":"broadcast","event":"tick","payload":{"i":1}}`) {
			t.Errorf("event %+v, want the broadcast without a cursor", ev)
		}
	}

	// The next poll from that cursor gets a change, with its cursor.
	e.insert(t, 7, 7)
	resp, err := http.Get(url + "&since=" + ans.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	ans = answer{}
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if err != nil || len(ans.Events) != 1 || ans.Events[0].Event != "postgres_changes" || ans.Events[0].Cursor == nil || *ans.Events[0].Cursor != ans.Cursor {
		t.Fatalf("second poll: %+v (%v), want the change and its cursor", ans, err)
	}
}
