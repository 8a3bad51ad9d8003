package relay

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/replication"
)

func sameEnvelope(a, b broadcast.Envelope) bool {
	return a.Topic == b.Topic && a.Private == b.Private && a.Kind == b.Kind && a.Event == b.Event &&
		bytes.Equal(a.Meta, b.Meta) && bytes.Equal(a.Payload, b.Payload) && a.JSON == b.JSON &&
		a.Binary == b.Binary && a.Sender == b.Sender && a.Except == nil && b.Except == nil
}

func TestWireRoundTrip(t *testing.T) {
	tests := []broadcast.Envelope{
		{Topic: "room", Kind: broadcast.KindPush, Payload: []byte(`{"type":"broadcast","event":"e","payload":{}}`), Sender: broadcast.Sender{Node: "a", Conn: 7}},
		{Topic: "room", Private: true, Kind: broadcast.KindUser, Event: "bin", Meta: []byte(`{"id":"x"}`), Payload: []byte{0, 1, 2, 255}, Binary: true, Sender: broadcast.Sender{Node: "a", Conn: 1 << 40}},
		{Topic: "r", Kind: broadcast.KindUser, Event: "", Payload: []byte(`{"z":3}`), JSON: true, Binary: true, Sender: broadcast.Sender{Node: "a"}},
		{Topic: "ü/é", Kind: broadcast.KindUser, Event: "e", Sender: broadcast.Sender{Node: "a"}},
	}
	b := appendHeader(nil, "a")
	for i := range tests {
		b = appendEnvelope(b, &tests[i])
	}
	r := reader{b: b}
	if node := r.header(); node != "a" || r.err != nil {
		t.Fatalf("header: %q, %v", node, r.err)
	}
	for i, want := range tests {
		var got broadcast.Envelope
		if !r.envelope(&got, "a") {
			t.Fatalf("envelope %d: %v", i, r.err)
		}
		if !sameEnvelope(got, want) {
			t.Errorf("envelope %d\n got %+v\nwant %+v", i, got, want)
		}
	}
	if len(r.b) != 0 {
		t.Errorf("%d bytes left", len(r.b))
	}
}

func TestWireMalformed(t *testing.T) {
	good := appendEnvelope(appendHeader(nil, "a"), &broadcast.Envelope{Topic: "t", Kind: broadcast.KindUser, Event: "e", Payload: []byte("p")})
	presence := appendEnvelope(appendHeader(nil, "a"), &broadcast.Envelope{Topic: "t", Kind: broadcast.KindPresenceDiff})
	tests := map[string][]byte{
		"empty":          {},
		"other version":  append([]byte{9}, good[1:]...),
		"presence diff":  presence,
		"no topic":       appendEnvelope(appendHeader(nil, "a"), &broadcast.Envelope{Kind: broadcast.KindUser}),
		"length too big": append(appendHeader(nil, "a"), 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	for i := 1; i < len(good); i++ {
		if i == len(appendHeader(nil, "a")) {
			continue // a header alone is an empty batch
		}
		tests[fmt.Sprintf("cut at %d", i)] = good[:i]
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			r := reader{b: b}
			r.header()
			var e broadcast.Envelope
			for r.err == nil && len(r.b) > 0 && r.envelope(&e, "a") {
			}
			if r.err == nil {
				t.Errorf("no error for %q", b)
			}
		})
	}
}

func FuzzHandleMessage(f *testing.F) {
	f.Add(appendEnvelope(appendHeader(nil, "b"), &broadcast.Envelope{Topic: "t", Kind: broadcast.KindUser, Event: "e", Payload: []byte("p")}))
	f.Add([]byte{1, 1, 'b', 0, 0, 0, 1, 't', 0, 0, 0})
	f.Fuzz(func(t *testing.T, content []byte) {
		rec := newRecorder()
		r := New(Config{Node: "a"})
		r.Wrap(rec)
		r.HandleMessage(context.Background(), &replication.LogicalMessage{Prefix: MessagePrefix, Content: content})
		for _, e := range rec.envelopes() {
			if e.Topic == "" || e.Kind == broadcast.KindPresenceDiff || e.Sender.Node == "a" {
				t.Fatalf("delivered %+v", e)
			}
		}
	})
}

// Two nodes, each with its own slot or LISTEN connection: what one
// publishes reaches the other's Publisher once, in order, without Except,
// large payloads (past NOTIFY's 8000 bytes) among small ones; presence
// diffs and node-local broadcasts stay home; nothing comes back to the
// sender.
func TestRelayBetweenNodes(t *testing.T) {
	for _, mode := range []Mode{ModeWAL, ModeNotify} {
		t.Run(string(mode), func(t *testing.T) { testRelayBetweenNodes(t, mode) })
	}
}

// startPair starts relays a and b in mode on the database at url until
// the test ends.
func startPair(t *testing.T, url string, mode Mode, recA, recB broadcast.Publisher) (a, b *Relay) {
	pool := newPool(t, url)
	a, b = New(Config{Pool: pool, Node: "a", Mode: mode}), New(Config{Pool: pool, Node: "b", Mode: mode})
	a.Wrap(recA)
	b.Wrap(recB)
	ctx, cancel := context.WithCancel(context.Background())
	if mode == ModeWAL {
		startStream(t, url, "relay_a", a)
		startStream(t, url, "relay_b", b)
	}
	for _, r := range []*Relay{a, b} {
		if err := r.Listen(ctx); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{}, 2)
	go func() { a.Run(ctx); done <- struct{}{} }()
	go func() { b.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); a.Close(); b.Close(); <-done; <-done })
	return a, b
}

func testRelayBetweenNodes(t *testing.T, mode Mode) {
	url := pgtest.NewDatabase(t)
	recA, recB := newRecorder(), newRecorder()
	a, b := startPair(t, url, mode, recA, recB)
	pubA, pubB := broadcast.PublisherFunc(a.publish), broadcast.PublisherFunc(b.publish)

	except := &fakeSub{}
	var want []broadcast.Envelope
	const n = 500
	for i := range n {
		e := broadcast.Envelope{Topic: "room", Kind: broadcast.KindUser, Event: "e", Payload: fmt.Appendf(nil, `{"i":%d}`, i), JSON: true,
			Sender: broadcast.Sender{Node: "a", Conn: uint64(i % 3)}, Except: except}
		switch {
		case i == 250:
			e.Payload = fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("x"), 3<<20))
		case i%50 == 30:
			e.Payload = fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("y"), 9000+i))
		}
		switch i % 50 {
		case 10:
			e.Kind = broadcast.KindPresenceDiff
		case 20:
			e.NodeLocal = true
		default:
			c := e
			c.Except = nil
			want = append(want, c)
		}
		pubA.Publish(&e)
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // several batches
		}
	}
	recB.waitFor(t, len(want))
	// A broadcast from b, once a has it, shows that a's stream is through
	// with a's own (they come back to a and must be skipped).
	pubB.Publish(&broadcast.Envelope{Topic: "done", Kind: broadcast.KindPush, Payload: []byte(`{}`), Sender: broadcast.Sender{Node: "b"}})
	recA.waitFor(t, n+1)
	time.Sleep(200 * time.Millisecond)
	got := recB.envelopes()
	if len(got) != len(want)+1 {
		t.Fatalf("b got %d envelopes, want %d", len(got), len(want)+1)
	}
	for i := range want {
		if !sameEnvelope(got[i], want[i]) {
			t.Fatalf("b's envelope %d\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if fromB := recA.envelopes(); len(fromB) != n+1 || fromB[n].Topic != "done" || fromB[n].Sender.Node != "b" {
		t.Fatalf("a got %d envelopes (last %+v), want its own %d and b's one", len(fromB), fromB[len(fromB)-1], n)
	}
}

// With no peer, nothing is written.
func TestRelayWithoutPeers(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pool := newPool(t, url)
	rec := newRecorder()
	r := New(Config{Pool: pool, Node: "a", Peers: func() bool { return false }})
	pub := r.Wrap(rec)
	pub.Publish(&broadcast.Envelope{Topic: "t", Kind: broadcast.KindPush, Payload: []byte(`{}`)})
	if got := len(rec.envelopes()); got != 1 {
		t.Fatalf("local got %d, want 1", got)
	}
	r.mu.Lock()
	queued := len(r.queue) - len(appendHeader(nil, "a"))
	r.mu.Unlock()
	if queued != 0 {
		t.Errorf("%d bytes queued with no peer", queued)
	}
}

type fakeSub struct{}

func (*fakeSub) Kind() int                 { return 0 }
func (*fakeSub) Deliver(f broadcast.Frame) {}
