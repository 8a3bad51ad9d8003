package broadcast

import "sync"

// Message is one event published to a topic, already encoded once per
// serializer: Frames[k] is what a subscriber of kind k receives (walcast's
// transport uses one kind per Phoenix serializer). A Frame with a nil Body
// is not deliverable to that kind and is skipped. Frames are shared by every
// subscriber and never modified.
type Message struct {
	Frames [Kinds]Frame
}

// Kinds is the number of subscriber kinds a Message carries frames for.
const Kinds = 2

// Subscriber receives the messages of the topics it subscribed to. Deliver
// is called with the hub's read lock held and must not block or call back
// into the hub: it queues and returns. Kind must not change while s is
// subscribed: the hub reads it once, at Subscribe.
type Subscriber interface {
	Kind() int
	Deliver(f Frame)
}

// Receiver takes frames.
type Receiver interface {
	Deliver(f Frame)
}

// Forwarder is a Subscriber whose frames all go to one Receiver, fixed
// while it is subscribed (a channel forwards to its connection). The hub
// delivers to that Receiver directly: a publish to thousands of
// subscribers then touches one object per subscriber, not two.
type Forwarder interface {
	Subscriber
	Receiver() Receiver
}

// Hub routes messages to the subscribers of a topic. It is safe for
// concurrent use; Publish takes a read lock only, so publishers on
// different topics (and on the same one) proceed in parallel.
type Hub struct {
	mu     sync.RWMutex
	topics map[string]map[Subscriber]target
}

// target is what a publish needs of a subscriber, read once at Subscribe:
// its kind and where its frames go.
type target struct {
	kind int
	to   Receiver
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{topics: make(map[string]map[Subscriber]target)} }

// Subscribe adds s to topic; subscribing twice is a no-op.
func (h *Hub) Subscribe(topic string, s Subscriber) { h.SubscribeThen(topic, s, nil) }

// SubscribeThen adds s to topic and calls then (when not nil) before any
// publish can reach s: every message published to topic reaches s after
// what then queued, or, published before, not at all. A channel queues its
// join reply there, so that a client that has the reply is in the room.
// then must not call into the hub.
func (h *Hub) SubscribeThen(topic string, s Subscriber, then func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if then != nil {
		then()
	}
	subs := h.topics[topic]
	if subs == nil {
		subs = make(map[Subscriber]target)
		h.topics[topic] = subs
	}
	t := target{kind: s.Kind(), to: s}
	if f, ok := s.(Forwarder); ok {
		t.to = f.Receiver()
	}
	subs[s] = t
}

// Unsubscribe removes s from topic; the topic is forgotten when it empties.
func (h *Hub) Unsubscribe(topic string, s Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	subs := h.topics[topic]
	delete(subs, s)
	if len(subs) == 0 {
		delete(h.topics, topic)
	}
}

// Publish hands m to every subscriber of topic except `except` (nil for
// none) and returns how many received it. The frames are shared: nothing
// is encoded or copied per subscriber.
func (h *Hub) Publish(topic string, m *Message, except Subscriber) int {
	return h.PublishWith(topic, m, except, nil)
}

// PublishWith is Publish that first calls record (when not nil) under the
// same lock: a SubscribeThen on topic happens either before both, so the
// subscriber gets the message live and its then did not see the record,
// or after both, so its then sees the record and the subscriber does not
// get the message. A Retainer keeps broadcasts this way, so that a replay
// and the live messages after it never overlap nor leave a gap.
func (h *Hub) PublishWith(topic string, m *Message, except Subscriber, record func()) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if record != nil {
		record()
	}
	n := 0
	for s, t := range h.topics[topic] {
		if s == except {
			continue
		}
		k := t.kind
		if k < 0 || k >= Kinds || m.Frames[k].Body == nil {
			continue
		}
		t.to.Deliver(m.Frames[k])
		n++
	}
	return n
}

// Subscribers returns the number of subscribers of topic.
func (h *Hub) Subscribers(topic string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.topics[topic])
}
