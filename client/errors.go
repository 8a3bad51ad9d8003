package client

import "errors"

var (
	// ErrClosed is returned by every call on a Client after Close.
	ErrClosed = errors.New("realtime client: closed")
	// ErrChannelClosed is returned by calls on a channel that was
	// unsubscribed or closed by the server; get a new one with
	// Client.Channel.
	ErrChannelClosed = errors.New("realtime channel: closed (get a new one with Client.Channel)")
	// ErrNotSubscribed is returned by Send, Track and Untrack on a channel
	// that was never subscribed: call Subscribe first.
	ErrNotSubscribed = errors.New("realtime channel: not subscribed (call Subscribe first)")
	// ErrTimeout is returned when the server did not reply within
	// Options.Timeout.
	ErrTimeout = errors.New("realtime: no reply from the server in time")
	// ErrDisconnected is returned when the connection dropped before the
	// server replied; the client reconnects by itself.
	ErrDisconnected = errors.New("realtime: connection lost before the server replied")
)

// ReplyError is a refusal from the server: the reason of an error reply to
// a join, track or acknowledged broadcast, or the message of a
// postgres_changes system error.
type ReplyError struct {
	Op     string // "join", "track", "untrack", "broadcast", "postgres_changes"
	Topic  string
	Reason string
}

func (e *ReplyError) Error() string {
	return "realtime " + e.Op + " " + e.Topic + " refused: " + e.Reason
}
