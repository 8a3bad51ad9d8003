package transport

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walcast/walcast/broadcast"
)

// Every size a feed's client chooses for its rooms is bounded, with the
// limits of a join, and a bad request says what is wrong.
func TestFeedRoomLimits(t *testing.T) {
	e := newEnv(t, Config{MaxChannels: 3, MaxTopicBytes: 32})
	key := token(t, time.Hour)
	long := strings.Repeat("a", 32-len(topicPrefix)+1)
	for _, tc := range []struct {
		name, path, query string
		status            int
		want              string // in the error
	}{
		{"no subscription", "sse", "", 400, "no subscription"},
		{"empty topic", "sse", "broadcast=", 400, "TopicNameRequired"},
		{"empty after realtime:", "sse", "presence=realtime:", 400, "TopicNameRequired"},
		{"topic too long", "sse", "broadcast=" + long, 400, "TopicTooLong: A topic may have at most 32 bytes, this one has 33"},
		{"realtime: counts once", "sse", "broadcast=realtime:" + long, 400, "TopicTooLong"},
		{"not UTF-8", "sse", "broadcast=%FF", 400, "valid UTF-8"},
		{"too many topics", "sse", "broadcast=a&broadcast=b&presence=c&presence=d", 400, "too many subscriptions"},
		{"too many with changes", "sse", "table=t&sub=t2&broadcast=a&broadcast=b", 400, "too many subscriptions"},
		{"bad private", "sse", "broadcast=a&private=maybe", 400, "private: want"},
		{"two privates", "poll", "broadcast=a&private=true&private=false", 400, "private: want"},
		{"presence on a poll", "poll", "presence=a", 400, "use the SSE feed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := httpGet(t, e.http.URL+"/realtime/v1/"+tc.path+"?apikey="+key+"&"+tc.query, nil)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want %d with %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
	// Duplicates count once, at the limit.
	s := openSSE(t, e.http.URL+"/realtime/v1/sse?apikey="+key+"&broadcast=a&broadcast=realtime:a&presence=a", "")
	s.body.Close()
}

// The Authorizer is asked about every room of a feed, once per room, with
// the feed's token and privacy, and its refusal is the feed's 403.
func TestFeedRoomsAuthorized(t *testing.T) {
	auth := &recordingAuthorizer{refuse: "secret"}
	e := newEnv(t, Config{Authorizer: auth})
	key := token(t, time.Hour)
	resp, body := httpGet(t, e.http.URL+"/realtime/v1/sse?apikey="+key+"&private=true&broadcast=a&presence=a&broadcast=secret", nil)
	if resp.StatusCode != 403 || !strings.Contains(body, "Unauthorized: You do not have permissions to read from this Channel topic: secret") {
		t.Errorf("%d %s, want 403 with the refusal", resp.StatusCode, body)
	}
	resp, body = httpGet(t, e.http.URL+"/realtime/v1/poll?apikey="+key+"&broadcast=secret&wait=0", nil)
	if resp.StatusCode != 403 {
		t.Errorf("poll: %d %s, want 403", resp.StatusCode, body)
	}
	got := auth.asked()
	want := []ChannelRequest{{Topic: "a", Private: true, Token: key}, {Topic: "secret", Private: true, Token: key}, {Topic: "secret", Token: key}}
	if len(got) != len(want) {
		t.Fatalf("asked %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Topic != want[i].Topic || got[i].Private != want[i].Private || got[i].Token != want[i].Token || got[i].Claims == nil || got[i].Claims.Role != "anon" {
			t.Errorf("request %d: %+v, want %+v with the token's claims", i, got[i], want[i])
		}
	}
}

// A stream ends when its token expires, with the system error a channel
// gets.
func TestSSETokenExpiry(t *testing.T) {
	e := newEnv(t, Config{})
	s := openSSE(t, e.http.URL+"/realtime/v1/sse?apikey="+token(t, 2*time.Second)+"&broadcast=a", "")
	defer s.body.Close()
	if ev := s.next(t); ev.event != "system" || !strings.Contains(ev.data, "Subscribed to broadcast") {
		t.Fatalf("first event %+v", ev)
	}
	ev := s.next(t)
	var p struct{ Extension, Status, Message string }
	if ev.event != "system" || json.Unmarshal([]byte(ev.data), &p) != nil || p.Status != "error" || !strings.HasPrefix(p.Message, "Token has expired") {
		t.Fatalf("event %+v, want the expiry", ev)
	}
	if _, err := s.r.ReadString('\n'); err == nil {
		t.Error("the stream goes on after the expiry")
	}
}

// roomFrameEvent turns the hub's text frames into feed events; frames it
// does not carry are refused, never half-converted.
func TestRoomFrameEvent(t *testing.T) {
	for _, tc := range []struct {
		name, frame, event, data string
	}{
		{"client push", `{"topic":"realtime:r","event":"broadcast","payload":{"type":"broadcast","event":"e","payload":{"a":1},"topic":"forged"},"ref":null}`,
			"broadcast", `{"topic":"r","type":"broadcast","event":"e","payload":{"a":1}}`},
		{"not an object", `{"topic":"realtime:r","event":"broadcast","payload":[1],"ref":null}`,
			"broadcast", `{"topic":"r","type":"broadcast","payload":[1]}`},
		{"diff", `{"topic":"realtime:r","event":"presence_diff","payload":{"joins":{},"leaves":{"k":{"metas":[]}}},"ref":null}`,
			"presence_diff", `{"topic":"r","joins":{},"leaves":{"k":{"metas":[]}}}`},
		{"empty diff", `{"topic":"realtime:r","event":"presence_diff","payload":{},"ref":null}`, "presence_diff", `{"topic":"r"}`},
		{"other event", `{"topic":"realtime:r","event":"phx_reply","payload":{},"ref":null}`, "", ""},
		{"diff not an object", `{"topic":"realtime:r","event":"presence_diff","payload":"x","ref":null}`, "", ""},
		{"not a frame", `[`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := roomFrameEvent("r", []byte(tc.frame))
			if tc.event == "" {
				if err == nil {
					t.Errorf("converted to %s %s, want a refusal", ev.name, ev.payload)
				}
				return
			}
			if err != nil || ev.name != tc.event || ev.cursor != "" || !jsonEqual(t, ev.payload, tc.data) {
				t.Errorf("%s %s (%v), want %s %s", ev.name, ev.payload, err, tc.event, tc.data)
			}
			if strings.ContainsAny(string(ev.payload), "\r\n") {
				t.Errorf("data %q spans lines", ev.payload)
			}
		})
	}
	// A tracked meta keeps the client's whitespace; the state's data line
	// must not.
	if d := presenceStateData("r", []byte("{\"k\":{\"metas\":[{\"a\":\n1}]}}")); strings.ContainsAny(string(d), "\r\n") || !jsonEqual(t, d, `{"topic":"r","state":{"k":{"metas":[{"a":1}]}}}`) {
		t.Errorf("state data %q", d)
	}
}

// A poll answers a broadcast-only feed with the broadcasts and no cursor.
func TestLongPollBroadcastOnly(t *testing.T) {
	e := newEnv(t, Config{})
	key := token(t, time.Hour)
	got := make(chan string, 1)
	go func() {
		_, body := httpGet(t, e.http.URL+"/realtime/v1/poll?apikey="+key+"&broadcast=a&wait=10", nil)
		got <- body
	}()
	var body string
	waitFor(t, "the poll's answer", func() bool {
		e.s.publishUser(t, "a", "e", `{"n":1}`)
		select {
		case body = <-got:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
	var ans struct {
		Cursor string
		Events []json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil || ans.Cursor != "" || len(ans.Events) == 0 ||
		!jsonEqual(t, ans.Events[0], `{"event":"broadcast","payload":{"topic":"a","type":"broadcast","event":"e","payload":{"n":1}}}`) {
		t.Fatalf("answer %s, want the broadcast and no cursor", body)
	}
}

// recordingAuthorizer records what it is asked and refuses one topic.
type recordingAuthorizer struct {
	refuse string

	mu  sync.Mutex
	got []ChannelRequest
}

func (a *recordingAuthorizer) AuthorizeChannel(_ context.Context, req ChannelRequest) (ChannelAccess, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, req)
	if req.Topic == a.refuse {
		return nil, errNoRead
	}
	return allowAll{}, nil
}

func (a *recordingAuthorizer) asked() []ChannelRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// publishUser publishes a JSON broadcast as REST does.
func (s *Server) publishUser(t *testing.T, topic, event, payload string) {
	t.Helper()
	s.publish(&broadcast.Envelope{Topic: topic, Kind: broadcast.KindUser, Event: event, Payload: []byte(payload), JSON: true})
}

// Feeds count against MaxConnsPerIP like WebSockets: an open stream holds
// a place until it ends.
func TestFeedConnsPerIP(t *testing.T) {
	e := newEnv(t, Config{MaxConnsPerIP: 1})
	url := e.http.URL + "/realtime/v1/sse?apikey=" + token(t, time.Hour) + "&broadcast=a"
	s := openSSE(t, url, "")
	for _, path := range []string{"sse", "poll"} {
		resp, body := httpGet(t, e.http.URL+"/realtime/v1/"+path+"?apikey="+token(t, time.Hour)+"&broadcast=a&wait=0", nil)
		if resp.StatusCode != 429 || !strings.Contains(body, "Too many connections") {
			t.Errorf("%s beside an open stream: %d %s, want 429", path, resp.StatusCode, body)
		}
	}
	s.body.Close()
	waitFor(t, "the stream's place to be free", func() bool {
		resp, _ := httpGet(t, e.http.URL+"/realtime/v1/poll?apikey="+token(t, time.Hour)+"&broadcast=a&wait=0", nil)
		return resp.StatusCode == 200
	})
}
