package access_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// feedGet opens a feed with token on query and returns the response.
func feedGet(t *testing.T, base, path, token string, query url.Values) *http.Response {
	t.Helper()
	query.Set("apikey", token)
	resp, err := http.Get(base + "/realtime/v1/" + path + "?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// An SSE or long-poll feed of a private room is authorized as a join of
// it: the room's RLS read policy refuses a role it refuses (403 with the
// join's reason) and lets in one it allows, which then gets the room's
// private broadcasts.
func TestPrivateFeedRooms(t *testing.T) {
	hs, _ := server(t)
	u1, u2 := tokenFor(t, "authenticated", user1), tokenFor(t, "authenticated", user2)
	own := "room:" + user1
	for _, tc := range []struct {
		name, path, token, topic string
		status                   int
		reason                   string
	}{
		{"another's room", "sse", u2, own, 403, "Unauthorized: You do not have permissions to read from this Channel topic: " + own},
		{"anon in the lobby", "sse", tokenFor(t, "anon", ""), "lobby", 403, "Unauthorized: You do not have permissions to read from this Channel topic: lobby"},
		{"presence of another's room", "sse", u2, own, 403, "Unauthorized"},
		{"poll of another's room", "poll", u2, own, 403, "Unauthorized: You do not have permissions to read from this Channel topic: " + own},
		{"poll of the lobby", "poll", u2, "lobby", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"private": {"true"}, "broadcast": {tc.topic}, "wait": {"0"}}
			if strings.HasPrefix(tc.name, "presence") {
				q = url.Values{"private": {"true"}, "presence": {tc.topic}}
			}
			resp := feedGet(t, hs.URL, tc.path, tc.token, q)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.reason) {
				t.Errorf("%d %s, want %d with %q", resp.StatusCode, b, tc.status, tc.reason)
			}
		})
	}

	// The owner's stream: a private broadcast arrives, the public one of
	// the same name does not.
	resp := feedGet(t, hs.URL, "sse", u1, url.Values{"private": {"true"}, "broadcast": {own}, "presence": {own}})
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("owner's stream: %d %s", resp.StatusCode, b)
	}
	events := make(chan [2]string, 16)
	go func() { // ends when the body is closed
		defer close(events)
		r := bufio.NewReader(resp.Body)
		var name string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				events <- [2]string{name, v}
			}
		}
	}()
	next := func() [2]string {
		ev, ok := <-events
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	}
	for _, want := range []string{"system", "system", "presence_state"} {
		if ev := next(); ev[0] != want {
			t.Fatalf("event %v, want %s", ev, want)
		}
	}
	post := func(event string, private bool) {
		body := `{"messages":[{"topic":"` + own + `","event":"` + event + `","payload":{"x":1},"private":` + map[bool]string{true: "true", false: "false"}[private] + `}]}`
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/broadcast", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+u1)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %d", resp.StatusCode)
		}
	}
	post("public", false)
	post("private", true)
	ev := next()
	var p struct{ Topic, Event string }
	if ev[0] != "broadcast" || json.Unmarshal([]byte(ev[1]), &p) != nil || p.Topic != own || p.Event != "private" {
		t.Fatalf("event %v, want the private broadcast (and not the public one)", ev)
	}
}
