package broadcast

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

type recorder struct {
	kind int
	mu   sync.Mutex
	got  []string
}

func (r *recorder) Kind() int { return r.kind }
func (r *recorder) Deliver(f Frame) {
	r.mu.Lock()
	r.got = append(r.got, string(f.Body))
	r.mu.Unlock()
}

func TestHubPublish(t *testing.T) {
	h := NewHub()
	a, b, c := &recorder{kind: 0}, &recorder{kind: 1}, &recorder{kind: 1}
	h.Subscribe("room", a)
	h.Subscribe("room", b)
	h.Subscribe("room", b) // twice is once
	h.Subscribe("other", c)
	m := &Message{Frames: [Kinds]Frame{{Body: []byte("v1")}, {Body: []byte("v2")}}}
	if n := h.Publish("room", m, nil); n != 2 {
		t.Errorf("Publish reached %d subscribers, want 2", n)
	}
	if n := h.Publish("room", m, a); n != 1 {
		t.Errorf("Publish except a reached %d, want 1", n)
	}
	onlyV2 := &Message{Frames: [Kinds]Frame{{}, {Body: []byte("bin")}}}
	if n := h.Publish("room", onlyV2, nil); n != 1 {
		t.Errorf("a message without a kind-0 frame reached %d, want 1 (b only)", n)
	}
	h.Unsubscribe("room", b)
	h.Publish("room", m, nil)
	if got := fmt.Sprint(a.got, b.got, c.got); got != "[v1 v1] [v2 v2 bin] []" {
		t.Errorf("deliveries %s", got)
	}
	if h.Subscribers("room") != 1 || h.Subscribers("other") != 1 || h.Subscribers("none") != 0 {
		t.Errorf("subscriber counts wrong")
	}
	h.Unsubscribe("room", a)
	if _, ok := h.topics["room"]; ok {
		t.Error("an empty topic is kept")
	}
}

// forwarder is a subscriber whose frames go to another receiver.
type forwarder struct {
	kind int
	to   *recorder
}

func (f *forwarder) Kind() int          { return f.kind }
func (f *forwarder) Deliver(Frame)      { panic("the hub must deliver to the receiver") }
func (f *forwarder) Receiver() Receiver { return f.to }

// A Forwarder's frames go straight to its receiver; it still counts, and
// is excepted and unsubscribed, as itself.
func TestHubForwarder(t *testing.T) {
	h := NewHub()
	to := &recorder{}
	f1, f2 := &forwarder{kind: 0, to: to}, &forwarder{kind: 1, to: to}
	h.Subscribe("room", f1)
	h.Subscribe("room", f2)
	m := &Message{Frames: [Kinds]Frame{{Body: []byte("v1")}, {Body: []byte("v2")}}}
	if n := h.Publish("room", m, f1); n != 1 {
		t.Errorf("Publish except f1 reached %d, want 1", n)
	}
	h.Unsubscribe("room", f2)
	if n := h.Publish("room", m, nil); n != 1 {
		t.Errorf("Publish after f2 left reached %d, want 1", n)
	}
	if got := fmt.Sprint(to.got); got != "[v2 v1]" {
		t.Errorf("receiver got %s, want [v2 v1]", got)
	}
}

// discard is a subscriber that drops frames; id keeps every one distinct
// (pointers to zero-size values may compare equal).
type discard struct{ id int }

func (*discard) Kind() int     { return 1 }
func (*discard) Deliver(Frame) {}

func TestHubPublishAllocs(t *testing.T) {
	h := NewHub()
	for i := range 1000 {
		h.Subscribe("room", &discard{id: i})
	}
	if h.Subscribers("room") != 1000 {
		t.Fatalf("%d subscribers, want 1000", h.Subscribers("room"))
	}
	m := &Message{Frames: [Kinds]Frame{{Body: []byte("a")}, {Body: []byte("b")}}}
	if n := testing.AllocsPerRun(100, func() { h.Publish("room", m, nil) }); n != 0 {
		t.Errorf("Publish to 1,000 subscribers: %v allocs, want 0", n)
	}
}

func BenchmarkHubPublish(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			h := NewHub()
			for i := range n {
				h.Subscribe("room", &discard{id: i})
			}
			m := &Message{Frames: [Kinds]Frame{{Body: []byte("a")}, {Body: []byte("b")}}}
			b.ReportAllocs()
			for b.Loop() {
				h.Publish("room", m, nil)
			}
		})
	}
}

// What SubscribeThen's callback queues comes before every message the
// subscriber receives, and a message published after SubscribeThen
// returned is received: a join reply and the room's traffic are ordered.
func TestHubSubscribeThen(t *testing.T) {
	h := NewHub()
	msg := func(s string) *Message { return &Message{Frames: [Kinds]Frame{{Body: []byte(s)}, {Body: []byte(s)}}} }
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a publisher racing the subscription
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				h.Publish("room", msg("race"), nil)
			}
		}
	}()
	defer func() { // also when the test fails: later tests count allocations
		close(stop)
		<-done
	}()
	for range 200 {
		r := &recorder{}
		h.SubscribeThen("room", r, func() { r.Deliver(Frame{Body: []byte("reply")}) })
		h.Publish("room", msg("after"), nil)
		r.mu.Lock()
		got := slices.Clone(r.got)
		r.mu.Unlock()
		if len(got) < 2 || got[0] != "reply" || !slices.Contains(got[1:], "after") {
			t.Fatalf("subscriber got %q, want the reply first and the later publish after it", got)
		}
		h.Unsubscribe("room", r)
	}
}
