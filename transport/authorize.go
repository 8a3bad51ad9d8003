package transport

import (
	"context"
	"sync"
	"time"

	"github.com/walcast/walcast/auth"
)

// Authorizer decides what a verified token may do on a channel, beyond
// what its signature proves. Config.Authorizer nil allows everything to
// every verified token: rooms are then open to anyone holding a key, as
// public channels are in Supabase.
//
// The connection layer asks it at join and again when the channel's token
// changes (access_token), and asks the returned ChannelAccess before the
// first broadcast or presence push of the channel and after each token
// change. Row-level checks of postgres_changes belong to the changes
// dispatcher, which batches them per transaction.
type Authorizer interface {
	// AuthorizeChannel decides whether req may join. A refusal's error
	// text is the join's reason (or, on a token refresh, the system
	// message that closes the channel), so it should read as Supabase's:
	// "Unauthorized: You do not have permissions to read from this
	// Channel topic: <topic>".
	AuthorizeChannel(ctx context.Context, req ChannelRequest) (ChannelAccess, error)
}

// ChannelRequest is what a channel asks to do.
type ChannelRequest struct {
	Topic   string // the sub-topic, without "realtime:"
	Private bool   // config.private of the join
	Token   string // the token the claims come from
	Claims  *auth.Claims
	// Refresh: the channel is joined and its token changed
	// (access_token); a refusal closes it ("You no longer have
	// permission to read from this Channel topic: <topic>" in Supabase).
	Refresh bool
}

// ChannelAccess is what an authorized channel may do.
type ChannelAccess interface {
	// Write reports whether the channel may send on ext (broadcast, or
	// track presence). The channel asks once per extension and keeps the
	// answer until its token changes. As in Supabase, a broadcast without
	// it is dropped without a reply and a track is answered with an error.
	Write(ctx context.Context, ext Extension) error
}

// Extension is what a channel sends on.
type Extension uint8

const (
	ExtBroadcast Extension = iota
	ExtPresence
	extensions
)

// String names ext as realtime.messages.extension does.
func (ext Extension) String() string {
	if ext == ExtPresence {
		return "presence"
	}
	return "broadcast"
}

// authorize asks the Authorizer about req, within authorizeTimeout.
func (s *Server) authorize(req ChannelRequest) (ChannelAccess, error) {
	ctx, cancel := context.WithTimeout(context.Background(), authorizeTimeout)
	defer cancel()
	return s.cfg.Authorizer.AuthorizeChannel(ctx, req)
}

// allowAll is the Authorizer of a server configured without one.
type allowAll struct{}

func (allowAll) AuthorizeChannel(context.Context, ChannelRequest) (ChannelAccess, error) {
	return allowAll{}, nil
}

func (allowAll) Write(context.Context, Extension) error { return nil }

// authorizeTimeout bounds one question to the Authorizer, which may ask
// the database.
const authorizeTimeout = 5 * time.Second

// writeAccess is a channel's cached answers of ChannelAccess.Write. It has
// a lock of its own, never held with ch.mu: asking may take a database
// round trip, and ch.mu is what the changes dispatcher takes to deliver.
type writeAccess struct {
	mu     sync.Mutex
	access ChannelAccess
	asked  [extensions]bool
	err    [extensions]error
}

// set replaces the access (a new token) and forgets the answers.
func (w *writeAccess) set(a ChannelAccess) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.access, w.asked, w.err = a, [extensions]bool{}, [extensions]error{}
}

// allowed asks for ext once per access; holding the lock meanwhile keeps
// two pushes from asking twice.
func (w *writeAccess) allowed(ext Extension) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.asked[ext] {
		ctx, cancel := context.WithTimeout(context.Background(), authorizeTimeout)
		w.err[ext] = w.access.Write(ctx, ext)
		cancel()
		w.asked[ext] = true
	}
	return w.err[ext]
}
