package client

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestPresence: two clients track under their keys, each sees the merged
// state of both, an untrack is a leave, and a closed client leaves.
func TestPresence(t *testing.T) {
	e := newEnv(t, false)
	a := e.dial("", Options{})
	b := e.dial("", Options{})
	chA := a.Channel("lobby", ChannelConfig{Presence: PresenceConfig{Key: "alice"}})
	chB := b.Channel("lobby", ChannelConfig{Presence: PresenceConfig{Key: "bob"}})
	syncA := make(chan PresenceState, 32)
	leavesA := make(chan string, 8)
	chA.OnPresenceSync(func(s PresenceState) { syncA <- s })
	chA.OnPresenceLeave(func(key string, current, left []Presence) {
		if len(current) == 0 {
			leavesA <- key
		}
	})
	syncB := make(chan PresenceState, 32)
	chB.OnPresenceSync(func(s PresenceState) { syncB <- s })
	subscribe(t, chA)
	subscribe(t, chB)
	ctx := testCtx(t)
	if err := chA.Track(ctx, map[string]string{"name": "Alice"}); err != nil {
		t.Fatal(err)
	}
	if err := chB.Track(ctx, map[string]string{"name": "Bob"}); err != nil {
		t.Fatal(err)
	}
	waitStateOf := func(sync chan PresenceState, want ...string) PresenceState {
		t.Helper()
		for {
			s := recv(t, sync, "presence sync of "+joinKeys(want))
			if keys := sortedKeys(s); slices.Equal(keys, want) {
				return s
			}
		}
	}
	waitState := func(want ...string) PresenceState {
		t.Helper()
		return waitStateOf(syncA, want...)
	}
	s := waitState("alice", "bob")
	for key, name := range map[string]string{"alice": "Alice", "bob": "Bob"} {
		if len(s[key]) != 1 || s[key][0].Ref == "" {
			t.Fatalf("state[%s] = %+v, want one meta with a ref", key, s[key])
		}
		var meta struct{ Name string }
		if err := json.Unmarshal(s[key][0].Meta, &meta); err != nil || meta.Name != name {
			t.Errorf("state[%s] meta %s, want name %s", key, s[key][0].Meta, name)
		}
	}
	if got := sortedKeys(chA.PresenceState()); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Errorf("PresenceState() keys = %v", got)
	}
	waitStateOf(syncB, "alice", "bob")

	// A new meta for the same key is an update: still one meta, the new one.
	if err := chB.Track(ctx, map[string]string{"name": "Robert"}); err != nil {
		t.Fatal(err)
	}
	for {
		s = waitState("alice", "bob")
		if len(s["bob"]) == 1 && json.Valid(s["bob"][0].Meta) && string(s["bob"][0].Meta) != "" &&
			containsJSON(s["bob"][0].Meta, "Robert") {
			break
		}
	}

	if err := chB.Untrack(ctx); err != nil {
		t.Fatal(err)
	}
	if key := recv(t, leavesA, "bob's leave"); key != "bob" {
		t.Errorf("leave of %q, want bob", key)
	}
	waitState("alice")
	if err := chB.Track(ctx, map[string]string{"name": "Bob"}); err != nil {
		t.Fatal(err)
	}
	waitState("alice", "bob")
	b.Close()
	if key := recv(t, leavesA, "bob's leave on close"); key != "bob" {
		t.Errorf("leave of %q, want bob", key)
	}
}

func sortedKeys(s PresenceState) []string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinKeys(keys []string) string {
	b, _ := json.Marshal(keys)
	return string(b)
}

func containsJSON(meta json.RawMessage, name string) bool {
	var m struct{ Name string }
	return json.Unmarshal(meta, &m) == nil && m.Name == name
}

// TestPresenceAfterReconnect: the server forgets a connection's presence
// when it drops; the client tracks it again after the rejoin.
func TestPresenceAfterReconnect(t *testing.T) {
	e := newEnv(t, false)
	p := newProxy(t, e.http.URL)
	a := e.dial(p.http.URL, Options{})
	b := e.dial("", Options{})
	chA := a.Channel("lobby", ChannelConfig{Presence: PresenceConfig{Key: "alice"}})
	chB := b.Channel("lobby", ChannelConfig{Presence: PresenceConfig{Key: "bob"}})
	events := make(chan string, 32)
	chB.OnPresenceJoin(func(key string, _, _ []Presence) { events <- "join " + key })
	chB.OnPresenceLeave(func(key string, _, _ []Presence) { events <- "leave " + key })
	subscribe(t, chA)
	subscribe(t, chB)
	if err := chA.Track(testCtx(t), map[string]string{"name": "Alice"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"join alice", "leave alice", "join alice"} {
		if got := recv(t, events, want); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if want == "join alice" && len(p.joins("realtime:lobby")) == 1 {
			p.cut()
		}
	}
	if s := chB.PresenceState(); len(s["alice"]) != 1 {
		t.Errorf("b's state after a's rejoin: %+v", s)
	}
}
