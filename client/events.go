package client

import "encoding/json"

// System is a "system" message of a channel: {extension, status, message,
// channel} on the wire, e.g. postgres_changes "ok" "Subscribed to
// PostgreSQL", or a system "error" before the server closes the channel.
type System struct {
	Extension string `json:"extension"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	Channel   string `json:"channel"`
	// Raw is the whole payload, extension fields included.
	Raw json.RawMessage `json:"-"`
}

// Status is a channel's state as its OnStatus callbacks see it; the names
// are realtime-js's subscribe statuses.
type Status string

const (
	// StatusSubscribed: joined and, with postgres_changes, "Subscribed to
	// PostgreSQL"; again after every rejoin.
	StatusSubscribed Status = "SUBSCRIBED"
	// StatusChannelError: the connection dropped, the server reported a
	// channel error, or a rejoin failed; the client rejoins by itself.
	StatusChannelError Status = "CHANNEL_ERROR"
	// StatusTimedOut: a join got no reply in time; the client retries.
	StatusTimedOut Status = "TIMED_OUT"
	// StatusClosed: unsubscribed, or closed by the server (phx_close, e.g.
	// an expired token). Final: the channel does not rejoin.
	StatusClosed Status = "CLOSED"
)

// Gap tells an app that postgres_changes after a cursor may have been lost,
// so it must refetch what it shows. See "Resume and gaps" in the package
// documentation.
type Gap struct {
	// After is the cursor the client asked to resume after.
	After string
	// Oldest is the oldest cursor the server still holds, when it said.
	Oldest string
	// Unsupported is set when the server did not acknowledge the resume
	// extension at all (Supabase Realtime, a walcast older than the
	// extension): every change between the disconnect and the rejoin may
	// be lost.
	Unsupported bool
	// Message is the server's text, or the client's when Unsupported.
	Message string
}
