package broadcast

// Envelope is a broadcast before it is encoded for any socket: what one
// node hands to its rooms, and what a relay carries to other nodes. Each
// node that receives it encodes it once per serializer and publishes the
// frames to its own subscribers, so nothing serializer-specific crosses
// nodes.
//
// An Envelope and the bytes it points to belong to the caller of Publish
// and are valid only during the call (Payload may be a view of a socket's
// read buffer): whoever keeps them longer, a relay queueing it for other
// nodes, copies them.
type Envelope struct {
	// Topic is the channel's sub-topic, without "realtime:"; Private says
	// whether it goes to private channels (a different room from the
	// public one of the same name).
	Topic   string
	Private bool
	Kind    EnvelopeKind
	// Event is the user event of a KindUser broadcast.
	Event string
	// Meta is a KindUser broadcast's meta: a JSON object, or empty.
	Meta []byte
	// Payload is, by Kind: the client's whole broadcast payload map
	// (KindPush, JSON, forwarded verbatim); the user payload (KindUser,
	// JSON text when JSON is set, else raw bytes); the diff
	// (KindPresenceDiff, JSON).
	Payload []byte
	JSON    bool // KindUser: Payload is JSON
	// Binary asks for binary frames where the receiver's serializer has
	// them (vsn 2.0.0's kind 4); others get text.
	Binary bool
	// Sender identifies the publisher: broadcasts of one sender reach
	// every subscriber in the order the sender published them.
	Sender Sender
	// NodeLocal says that every node publishes its own copy of this
	// broadcast (a database broadcast reaches each node through the node's
	// own replication slot): relays deliver it locally and carry it no
	// further.
	NodeLocal bool
	// Except, on the publishing node only, is the subscriber that must not
	// receive the broadcast (a sender that did not ask to hear itself).
	// Relays do not carry it: it never matches a subscriber elsewhere.
	Except Subscriber
}

// EnvelopeKind says how an Envelope's payload is framed.
type EnvelopeKind uint8

const (
	// KindPush is a client's text broadcast push, forwarded verbatim.
	KindPush EnvelopeKind = iota
	// KindUser is a broadcast with an event, meta and payload of its own:
	// a client's binary push, a REST publish, a database broadcast.
	KindUser
	// KindPresenceDiff is a presence diff of the room. A shared presence
	// store brings other nodes' diffs to each node's own store, so relays
	// carry only the other kinds.
	KindPresenceDiff
)

// Sender names a broadcast's publisher: the node and, on that node, the
// connection (0 for REST and the database).
type Sender struct {
	Node string
	Conn uint64
}

// Publisher takes broadcasts to the subscribers of their rooms. A node's
// own Publisher encodes and delivers to its local subscribers; a relay is
// a Publisher that also carries broadcasts to other nodes and hands them to
// each receiving node's own Publisher there.
//
// Publish delivers to this node's subscribers before it returns (a relay
// calls the node's own Publisher first), so a sender's broadcasts reach
// local subscribers at once and in order, and an ack means what it says.
// It must not wait for the network: what goes to other nodes is queued.
// Calls for one sender come one at a time; a relay keeps their order.
type Publisher interface {
	Publish(e *Envelope)
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(e *Envelope)

// Publish calls f(e).
func (f PublisherFunc) Publish(e *Envelope) { f(e) }
