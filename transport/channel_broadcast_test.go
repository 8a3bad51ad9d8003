package transport

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/walcast/walcast/phoenix"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/broadcast"
)

const room = "realtime:room1"

// A text push reaches every other socket of the room, both serializers,
// with the client's map forwarded byte for byte (extra keys included).
func TestBroadcastText(t *testing.T) {
	payload := `{"type":"broadcast","event":"cursor","payload":{"x":1,"s":"é"},"extra":[1, 2]}`
	for _, vsn := range versions {
		t.Run("from "+vsn.String(), func(t *testing.T) {
			e := newEnv(t, Config{})
			sender, r1, r2 := e.dial(t, vsn), e.dial(t, phoenix.V1), e.dial(t, phoenix.V2)
			for _, c := range []*client{sender, r1, r2} {
				c.joinRoom(room, "6", false, false, false)
			}
			sender.pushText("6", "7", room, payload)
			expectFrames(t, "sender (self:false)", sender.sync())
			expectFrames(t, "v1 receiver", r1.sync(), textBroadcast(phoenix.V1, room, payload))
			expectFrames(t, "v2 receiver", r2.sync(), textBroadcast(phoenix.V2, room, payload))
		})
	}
}

func TestBroadcastSelfAndAck(t *testing.T) {
	payload := `{"type":"broadcast","event":"e","payload":{}}`
	for _, vsn := range versions {
		t.Run(vsn.String(), func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.dial(t, vsn)
			c.joinRoom(room, "6", true, true, false)
			c.pushText("6", "7", room, payload)
			// The sender hears itself, then gets the ack.
			expectFrames(t, "sender", c.sync(), textBroadcast(vsn, room, payload),
				replyFrame(vsn, "6", "7", room, `{"status":"ok","response":{}}`))

			// ack without self: only the reply.
			c.joinRoom("realtime:other", "8", false, true, false)
			c.pushText("8", "9", "realtime:other", payload)
			expectFrames(t, "sender", c.sync(), replyFrame(vsn, "8", "9", "realtime:other", `{"status":"ok","response":{}}`))
		})
	}
}

// A binary kind-3 push goes out as kind 4 to vsn 2.0.0 sockets (metadata
// dropped) and as text to vsn 1.0.0 ones; raw bytes reach vsn 2.0.0 only.
func TestBroadcastBinary(t *testing.T) {
	e := newEnv(t, Config{})
	sender, r1, r2 := e.dial(t, phoenix.V2), e.dial(t, phoenix.V1), e.dial(t, phoenix.V2)
	for _, c := range []*client{sender, r1, r2} {
		c.joinRoom(room, "6", true, false, false)
	}
	sender.sendRaw(websocket.MessageBinary, phoenix.AppendBroadcastPush(nil, "6", "7", room, "cursor", json.RawMessage(`{"persist":{"ttl":60}}`), true, []byte(`{"x":9,"s":"é"}`)))
	kind4 := binary(phoenix.AppendBroadcastBinary(nil, room, "cursor", nil, true, []byte(`{"x":9,"s":"é"}`)))
	expectFrames(t, "sender (self:true)", sender.sync(), kind4)
	expectFrames(t, "v2 receiver", r2.sync(), kind4)
	expectFrames(t, "v1 receiver", r1.sync(), textBroadcast(phoenix.V1, room, `{"type":"broadcast","event":"cursor","payload":{"x":9,"s":"é"}}`))

	raw := []byte{0, 1, 2, 0xff, '{'}
	sender.sendRaw(websocket.MessageBinary, phoenix.AppendBroadcastPush(nil, "6", "8", room, "blob", json.RawMessage(""), false, raw))
	rawOut := binary(phoenix.AppendBroadcastBinary(nil, room, "blob", nil, false, raw))
	expectFrames(t, "sender", sender.sync(), rawOut)
	expectFrames(t, "v2 receiver", r2.sync(), rawOut)
	expectFrames(t, "v1 receiver (no text form)", r1.sync())
}

func TestBroadcastOversize(t *testing.T) {
	e := newEnv(t, Config{MaxPayloadBytes: 100})
	acked, quiet, r := e.dial(t, phoenix.V2), e.dial(t, phoenix.V1), e.dial(t, phoenix.V2)
	acked.joinRoom(room, "6", true, true, false)
	quiet.joinRoom(room, "6", true, false, false)
	r.joinRoom(room, "6", false, false, false)
	big := `{"type":"broadcast","event":"e","payload":{"pad":"` + strings.Repeat("x", 100) + `"}}`
	acked.pushText("6", "7", room, big)
	acked.sendRaw(websocket.MessageBinary, phoenix.AppendBroadcastPush(nil, "6", "8", room, "e", json.RawMessage(""), false, make([]byte, 101)))
	expectFrames(t, "acked sender", acked.sync(),
		replyFrame(phoenix.V2, "6", "7", room, `{"status":"error","response":"payload_size_exceeded"}`),
		replyFrame(phoenix.V2, "6", "8", room, `{"status":"error","response":"payload_size_exceeded"}`))
	quiet.pushText("6", "7", room, big)
	expectFrames(t, "sender without ack", quiet.sync())
	expectFrames(t, "receiver", r.sync())

	// Exactly at the limit passes.
	ok := make([]byte, 100)
	acked.sendRaw(websocket.MessageBinary, phoenix.AppendBroadcastPush(nil, "6", "9", room, "e", json.RawMessage(""), false, ok))
	out := binary(phoenix.AppendBroadcastBinary(nil, room, "e", nil, false, ok))
	expectFrames(t, "acked sender", acked.sync(), out, replyFrame(phoenix.V2, "6", "9", room, `{"status":"ok","response":{}}`))
	expectFrames(t, "receiver", r.sync(), out)
}

// Rooms are per sub-topic and per private flag; leaving a channel (or
// closing the socket) leaves its room.
func TestBroadcastRooms(t *testing.T) {
	e := newEnv(t, Config{})
	sender, public, private, other := e.dial(t, phoenix.V2), e.dial(t, phoenix.V2), e.dial(t, phoenix.V2), e.dial(t, phoenix.V2)
	sender.joinRoom(room, "6", false, false, false)
	public.joinRoom(room, "6", false, false, false)
	private.joinRoom(room, "6", false, false, true)
	other.joinRoom("realtime:room2", "6", false, false, false)
	payload := `{"type":"broadcast","event":"e","payload":{}}`
	sender.pushText("6", "7", room, payload)
	sender.sync()
	expectFrames(t, "public", public.sync(), textBroadcast(phoenix.V2, room, payload))
	expectFrames(t, "private", private.sync())
	expectFrames(t, "other topic", other.sync())
	if n := e.s.hub.Subscribers(roomKey(false, "room1")); n != 2 {
		t.Errorf("public room has %d subscribers, want 2", n)
	}

	public.send("6", "8", room, evLeave, `{}`)
	public.next() // reply
	public.next() // phx_close
	sender.pushText("6", "9", room, payload)
	sender.sync()
	expectFrames(t, "after leave", public.sync())
	sender.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the rooms to empty", func() bool {
		return e.s.hub.Subscribers(roomKey(false, "room1")) == 0 && e.s.hub.Subscribers(roomKey(true, "room1")) == 1
	})
}

// frameSpy records what the hub hands a subscriber.
// frameSpy records what the hub delivers to it. Deliver runs on the
// server's read loop; the lock, not the socket the test reads the
// reply from, orders it before the test's look.
type frameSpy struct {
	kind   int
	mu     sync.Mutex
	frames []broadcast.Frame
}

func (s *frameSpy) Kind() int { return s.kind }
func (s *frameSpy) Deliver(f broadcast.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, f)
}

func (s *frameSpy) delivered() []broadcast.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.frames)
}

// A push is encoded once per serializer: every subscriber of a kind gets
// the very same bytes.
func TestBroadcastEncodedOnce(t *testing.T) {
	e := newEnv(t, Config{})
	spies := []*frameSpy{{kind: kindV1}, {kind: kindV1}, {kind: kindV2}, {kind: kindV2}}
	for _, s := range spies {
		e.s.hub.Subscribe(roomKey(false, "room1"), s)
		defer e.s.hub.Unsubscribe(roomKey(false, "room1"), s)
	}
	c := e.dial(t, phoenix.V2)
	c.joinRoom(room, "6", false, false, false)
	c.pushText("6", "7", room, `{"type":"broadcast","event":"e","payload":{}}`)
	c.sendRaw(websocket.MessageBinary, phoenix.AppendBroadcastPush(nil, "6", "8", room, "e", json.RawMessage(""), true, []byte(`{}`)))
	c.sync()
	for i := 0; i < len(spies); i += 2 {
		a, b := spies[i].delivered(), spies[i+1].delivered()
		if len(a) != 2 || len(b) != 2 {
			t.Fatalf("kind %d: got %d and %d frames, want 2", spies[i].kind, len(a), len(b))
		}
		for j := range a {
			if &a[j].Body[0] != &b[j].Body[0] {
				t.Errorf("kind %d frame %d: encoded per subscriber", spies[i].kind, j)
			}
		}
	}
}

// BenchmarkBroadcastPublish: encoding a client push once and handing it to
// 1000 subscribers (the hub's side of a fan-out, without sockets).
func BenchmarkBroadcastPublish(b *testing.B) {
	hub := broadcast.NewHub()
	for i := range 1000 {
		hub.Subscribe("public:room1", &countSpy{kind: i % 2})
	}
	payload := []byte(`{"type":"broadcast","event":"cursor","payload":{"x":12,"y":34,"user":"5b0c2a7e"}}`)
	b.ReportAllocs()
	for b.Loop() {
		hub.Publish("public:room1", encodeClientText(room, payload), nil)
	}
}

type countSpy struct{ kind, n int }

func (s *countSpy) Kind() int               { return s.kind }
func (s *countSpy) Deliver(broadcast.Frame) { s.n++ }
