package transport

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/phoenix"
	"github.com/walcast/walcast/presence"
)

// bridge is a relay between two in-process servers: each server's
// broadcasts are delivered locally, recorded, and handed to the other
// server's own publisher as a remote node's would be (copied, without
// Except). Presence diffs stay local, as the Relay contract says.
type bridge struct {
	mu    sync.Mutex
	local [2]broadcast.Publisher
	seen  []broadcast.Envelope // what server 0 published, copied
}

func (b *bridge) relay(i int) func(broadcast.Publisher) broadcast.Publisher {
	return func(local broadcast.Publisher) broadcast.Publisher {
		b.mu.Lock()
		b.local[i] = local
		b.mu.Unlock()
		return broadcast.PublisherFunc(func(e *broadcast.Envelope) {
			local.Publish(e)
			if e.Kind == broadcast.KindPresenceDiff {
				return
			}
			remote := *e
			remote.Except = nil
			remote.Payload = bytes.Clone(e.Payload)
			remote.Meta = bytes.Clone(e.Meta)
			b.mu.Lock()
			if i == 0 {
				b.seen = append(b.seen, remote)
			}
			other := b.local[1-i]
			b.mu.Unlock()
			other.Publish(&remote)
		})
	}
}

func (b *bridge) envelopes() []broadcast.Envelope {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]broadcast.Envelope(nil), b.seen...)
}

// Every way a broadcast enters one node (a client's text and binary push,
// REST) goes out through Config.Relay un-encoded, and a second node fed
// from that relay delivers it to its own sockets exactly as the first
// node delivers it to its own.
func TestRelayCarriesEveryBroadcast(t *testing.T) {
	var b bridge
	a := newEnv(t, Config{Node: "a", Relay: b.relay(0)})
	o := newEnv(t, Config{Node: "b", Relay: b.relay(1)})
	sender := a.dial(t, phoenix.V2)
	sender.joinRoom(room, "6", false, false, false)
	var local, remote [2]*client
	for i, vsn := range versions {
		local[i], remote[i] = a.dial(t, vsn), o.dial(t, vsn)
		local[i].joinRoom(room, "6", false, false, false)
		remote[i].joinRoom(room, "6", false, false, false)
	}

	text := `{"type":"broadcast","event":"cursor","payload":{"x":1}}`
	sender.pushText("6", "7", room, text)
	sender.sendRaw(websocket.MessageBinary, phoenix.AppendBroadcastPush(nil, "6", "8", room, "bin", nil, true, []byte(`{"y":2}`)))
	sender.sync()
	hdr := map[string]string{"Authorization": "Bearer " + token(t, time.Hour)}
	resp, body := post(t, "POST", a.http.URL+"/api/broadcast/room1/events/rest", hdr, `{"z":3}`)
	expectStatus(t, "REST", resp, body, http.StatusAccepted, "")

	var want []rawFrame
	for i, vsn := range versions {
		want = local[i].sync()
		if len(want) != 3 {
			t.Fatalf("%v local receiver got %d frames, want 3: %v", vsn, len(want), want)
		}
		expectFrames(t, vsn.String()+" remote receiver", remote[i].sync(), want...)
	}
	// self:false leaves out its own pushes, not REST's.
	expectFrames(t, "sender", sender.sync(), want[2])

	got := b.envelopes()
	if len(got) != 3 {
		t.Fatalf("relay saw %d envelopes, want 3: %+v", len(got), got)
	}
	checks := []struct {
		kind    broadcast.EnvelopeKind
		event   string
		payload string
		conn    bool
	}{
		{broadcast.KindPush, "", text, true},
		{broadcast.KindUser, "bin", `{"y":2}`, true},
		{broadcast.KindUser, "rest", `{"z":3}`, false},
	}
	for i, want := range checks {
		e := got[i]
		if e.Kind != want.kind || e.Event != want.event || string(e.Payload) != want.payload || e.Topic != "room1" || e.Private || e.Sender.Node != "a" || (e.Sender.Conn != 0) != want.conn {
			t.Errorf("envelope %d = %+v (payload %s), want kind %d event %q payload %s from a (conn %v)", i, e, e.Payload, want.kind, want.event, want.payload, want.conn)
		}
	}
}

// countingStore is a presence.Store that records that the server used it.
type countingStore struct {
	presence.Store
	members, tracks atomic.Int64
}

func (s *countingStore) NewMember() presence.MemberID {
	s.members.Add(1)
	return s.Store.NewMember()
}

func (s *countingStore) Track(room string, m presence.MemberID, key string, meta presence.Meta) (presence.Diff, bool) {
	s.tracks.Add(1)
	return s.Store.Track(room, m, key, meta)
}

// The server keeps presence in the store Config.Presence builds, handing
// it the sink its diffs go to, and takes member ids from it.
func TestPresenceStoreFromConfig(t *testing.T) {
	var store *countingStore
	e := newEnv(t, Config{Presence: func(sink presence.Sink) presence.Store {
		store = &countingStore{Store: presence.NewMemory(sink)}
		return store
	}})
	c := e.dial(t, phoenix.V2)
	c.join(room, "6", `{"config":{"presence":{"key":"k"}}}`)
	c.send("6", "7", room, "presence", `{"type":"presence","event":"track","payload":{"a":1}}`)
	var diff bool
	for _, f := range c.sync() {
		diff = diff || bytes.Contains([]byte(f.data), []byte(`"presence_diff"`))
	}
	if !diff {
		t.Error("no presence_diff reached the tracker")
	}
	if store.members.Load() != 1 || store.tracks.Load() != 1 {
		t.Errorf("store saw %d NewMember and %d Track calls, want 1 and 1", store.members.Load(), store.tracks.Load())
	}
}

// policy is an Authorizer for tests: private topics in readers may be
// joined, and those in writers written to; public topics are open.
type policy struct {
	mu               sync.Mutex // the test changes the maps while the server reads them
	readers, writers map[string]bool
	asked            atomic.Int64 // Write calls
}

func (p *policy) set(m map[string]bool, key string, v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m[key] = v
}

//lint:ignore ST1005 Supabase's text
var errNoRead = errors.New("Unauthorized: You do not have permissions to read from this Channel topic: secret")

func (p *policy) AuthorizeChannel(_ context.Context, req ChannelRequest) (ChannelAccess, error) {
	if req.Claims == nil || req.Claims.Role != "anon" {
		return nil, errors.New("no claims")
	}
	p.mu.Lock()
	readable := p.readers[req.Topic]
	p.mu.Unlock()
	if req.Private && !readable {
		return nil, errNoRead
	}
	return policyAccess{p, req}, nil
}

type policyAccess struct {
	p   *policy
	req ChannelRequest
}

func (a policyAccess) Write(_ context.Context, ext Extension) error {
	a.p.asked.Add(1)
	a.p.mu.Lock()
	writable := a.p.writers[a.req.Topic+"/"+ext.String()]
	a.p.mu.Unlock()
	if a.req.Private && !writable {
		return errors.New("Unauthorized")
	}
	return nil
}

func TestAuthorizerDecidesJoinsAndWrites(t *testing.T) {
	p := &policy{readers: map[string]bool{"ro": true}, writers: map[string]bool{}}
	e := newEnv(t, Config{Authorizer: p})
	c := e.dial(t, phoenix.V2)

	f := c.join("realtime:secret", "1", `{"config":{"private":true}}`)
	if !jsonEqual(t, f.Payload, `{"status":"error","response":{"reason":"`+errNoRead.Error()+`"}}`) {
		t.Errorf("join of an unreadable private topic: %s", f)
	}

	// Readable, not writable: the broadcast is dropped without a reply
	// (ack or not) and asked about once; a track is refused.
	c.joinRoom("realtime:ro", "2", true, true, true)
	listener := e.dial(t, phoenix.V2)
	listener.joinRoom("realtime:ro", "2", false, false, true)
	for ref := range 3 {
		c.pushText("2", "b"+string(rune('0'+ref)), "realtime:ro", `{"type":"broadcast","event":"e","payload":{}}`)
	}
	expectFrames(t, "writer without write access", c.sync())
	expectFrames(t, "listener", listener.sync())
	if n := p.asked.Load(); n != 1 {
		t.Errorf("Write asked %d times for three broadcasts, want once", n)
	}
	c.send("2", "t", "realtime:ro", "presence", `{"type":"presence","event":"track","payload":{}}`)
	got := c.sync()
	if len(got) != 1 || !bytes.Contains([]byte(got[0].data), []byte(`"status":"error"`)) {
		t.Errorf("track without write access: %v, want one error reply", got)
	}

	// REST: 403 for one message, skipped (still 202) in a batch.
	hdr := map[string]string{"Authorization": "Bearer " + token(t, time.Hour)}
	resp, body := post(t, "POST", e.http.URL+"/api/broadcast/ro/events/e?private=true", hdr, `{}`)
	expectStatus(t, "REST single", resp, body, http.StatusForbidden, `{"message":"Unauthorized"}`)
	hdr["Content-Type"] = "application/json"
	resp, body = post(t, "POST", e.http.URL+"/api/broadcast", hdr, `{"messages":[{"topic":"ro","event":"e","payload":{},"private":true}]}`)
	expectStatus(t, "REST batch", resp, body, http.StatusAccepted, "")
	expectFrames(t, "listener after REST", listener.sync())

	// Granting write and refreshing the token lets the broadcast through.
	p.set(p.writers, "ro/broadcast", true)
	c.send("2", "r", "realtime:ro", "access_token", `{"access_token":"`+token(t, 2*time.Hour)+`"}`)
	c.pushText("2", "b9", "realtime:ro", `{"type":"broadcast","event":"e","payload":{}}`)
	c.sync()
	expectFrames(t, "listener after refresh", listener.sync(), textBroadcast(phoenix.V2, "realtime:ro", `{"type":"broadcast","event":"e","payload":{}}`))

	// A refresh that loses read access closes the channel.
	p.set(p.readers, "ro", false)
	listener.send("2", "r", "realtime:ro", "access_token", `{"access_token":"`+token(t, 3*time.Hour)+`"}`)
	got = listener.sync()
	if len(got) != 2 || !bytes.Contains([]byte(got[0].data), []byte(errNoRead.Error())) || !bytes.Contains([]byte(got[1].data), []byte(`"phx_close"`)) {
		t.Errorf("refresh without read access: %v, want the system error and phx_close", got)
	}
}
