// Package client is a Go client of the Supabase Realtime protocol, for
// walcast and for Supabase Realtime itself: postgres_changes, broadcast and
// presence over one WebSocket (github.com/coder/websocket), with
// realtime-js's heartbeats, reconnects and rejoins, and walcast's resume by
// cursor. It is meant for services and for integration tests of apps that
// use walcast with Postgres (see the example).
//
//	c, err := client.Dial(ctx, "http://localhost:4000", client.Options{APIKey: key})
//	ch := c.Channel("todos", client.ChannelConfig{})
//	ch.OnPostgresChanges(client.PostgresChangesFilter{Event: "INSERT", Table: "todos", Filter: "done=eq.false"},
//		func(chg client.Change) { ... })
//	err = ch.Subscribe(ctx) // joined, and "Subscribed to PostgreSQL"
//	...
//	c.Close()
//
// # Protocol
//
// The client speaks vsn 2.0.0 by default (Options.Version: phoenix.V1 for
// 1.0.0) with the codecs of package phoenix, and behaves as realtime-js
// 2.x: a heartbeat every 25 s, and when its reply has not come by the next
// one the connection is closed and dialled again; pushes and joins time out
// after 10 s; Send goes as a binary kind-3 frame with a JSON payload;
// messages of an earlier join (another join_ref) are dropped; a join reply
// whose postgres_changes bindings do not match the join's fails the
// channel. Presence is merged as phoenix.js's Presence merges it (the
// state by phx_ref, diffs held until the state of the current join
// arrives), and OnPresenceSync/Join/Leave get what realtime-js's presence
// events get.
//
// # Reconnects and rejoins
//
// Dial's first connection must succeed; after that a lost connection
// (closed by the server, a network failure, a missed heartbeat reply, a
// callback queue overflow) is dialled again after Options.Backoff's
// capped, jittered exponential delays, forever, until Close. Every
// subscribed channel then joins again with a new join_ref, the latest
// access token and its resume cursor, and tracks its presence meta again.
// A channel error from the server (phx_error), a rejoin refused or timed
// out is retried the same way; a phx_close from the server (an expired
// token, a rate limit) closes the channel for good, as in realtime-js.
// Status callbacks (OnStatus) see each step.
//
// Send, Track and Untrack made while a channel rejoins wait for the rejoin
// (bounded by their context); they are not buffered.
//
// # Access tokens
//
// Options.AccessToken goes with every join. SetAuth replaces it and sends
// it to every joined channel (the server re-checks the channel's
// authorization and keeps it open past the old token's expiry); with
// Options.AccessTokenFunc the client asks for the token before each join
// and at each heartbeat and sends it when it changed, as realtime-js's
// accessToken option does.
//
// # Resume and gaps
//
// walcast gives every change a cursor (Change.Cursor: the commit LSN and
// the change's ordinal, "0000000001A2B3C8-00000001", fixed-width so that
// cursors sort in commit order). Each channel keeps the cursor of the last
// change it queued for its callbacks (Channel.Cursor), drops changes at or
// before it (a resumed stream may repeat a transaction), and on every
// rejoin asks the server to resume after it, with an extension of the join
// config:
//
//	"config": {"broadcast": ..., "postgres_changes": [...],
//	           "postgres_changes_resume": {"after": "<cursor>"}}
//
// (ResumeConfigKey). It is sent only by a channel with postgres_changes
// callbacks and a cursor: after it received a change, or from the first
// join with ChannelConfig.ResumeAfter (a cursor the app kept across
// restarts). Servers that do not know the key ignore it, as they ignore
// every unknown config key; stock realtime-js never sends it.
//
// The contract asked of a server that supports it:
//
//   - It acknowledges the extension by echoing it in the join reply:
//     {"status":"ok","response":{"postgres_changes":[...],
//     "postgres_changes_resume":{"after":"<cursor>"}}}.
//   - When the cursor is inside its retention window it delivers every
//     change of the channel's bindings committed after the cursor, then
//     the live ones, without gap or duplicate, and sends "Subscribed to
//     PostgreSQL" only once that holds.
//   - When the cursor is outside the window (older than what it kept, or
//     unknown to it) it still joins, and sends a system message with the
//     status "gap" (GapStatus) before "Subscribed to PostgreSQL":
//     {"extension":"postgres_changes","status":"gap","message":"<text>",
//     "channel":"<sub-topic>","after":"<the cursor asked for>",
//     "oldest":"<oldest cursor it holds>"}; it then streams as for a join
//     without the extension. The shape is the system message's usual
//     {extension, status, message, channel} plus two keys; realtime-js
//     hands it to .on('system') callbacks unchanged.
//
// The client turns a gap into an OnGap callback (Gap), the app's signal to
// refetch. It calls it once the rejoin is complete (after "Subscribed to
// PostgreSQL", before the SUBSCRIBED status), so that what the app
// refetches then is followed by every later change. So that a lost change
// is never silent, it also reports a Gap with Unsupported set when it asked
// to resume and the join reply did not echo the extension: a server
// without it (Supabase Realtime, a walcast older than the extension) lost
// whatever was committed while the channel was away.
//
// # Broadcast replay
//
// A private channel may ask its join for the broadcasts its room had
// before it joined, as realtime-js's config.broadcast.replay does:
//
//	ch := c.Channel("room-1", client.ChannelConfig{Private: true, Broadcast: client.BroadcastConfig{
//		Replay: &client.ReplayConfig{Since: time.Now().Add(-time.Minute), Limit: 10}}})
//
// The server (walcast, or Supabase for broadcasts from the database)
// sends the newest Limit broadcasts kept since Since, oldest first, right
// after the join reply and before any live broadcast, each with
// meta.replayed (Broadcast.Replayed). Since is compared with the server's
// clock; the zero time asks for all it kept.
//
// realtime-js sends the same config on every rejoin, so that a channel
// gets the same broadcasts again after each reconnect. This client asks a
// rejoin to replay from just after the newest broadcast the channel
// queued for its callbacks (or from Since again when it got none): what
// the room had while the channel was away, up to Limit, and not what it
// already had. That point comes from the client's clock, so it is exact
// only as far as the two clocks agree (ahead, the client misses what was
// sent in the difference; behind, it gets some again), and a broadcast
// the server kept right after the newest one the channel got (less than
// the network delay after it) is missed when the connection broke before
// it arrived.
//
// # Callbacks
//
// Callbacks run one at a time, in the order their messages arrived, on one
// delivery goroutine per client, so they need no locking among themselves
// and never block the reader (which keeps answering heartbeats). A
// callback may call Send, Track, Subscribe, SetAuth and the like, but not
// Close, which waits for the delivery goroutine.
//
// Between the reader and that goroutine is a queue of Options.QueueSize
// events. When callbacks fall so far behind that it is full, the client
// behaves as walcast does with a slow consumer: it drops the connection
// (logging why) and reconnects. Nothing queued is lost; the messages that
// did not fit are, except that a channel's cursor only covers changes
// that were queued, so a server that supports resume sends the rest again
// on the rejoin, and presence is resynchronized by the presence_state of
// the rejoin. Broadcasts that did not fit are lost, as broadcasts are over
// any disconnect.
//
// # Goroutines
//
// A client owns: the connection loop (dial, read, reconnect), a heartbeat
// goroutine per connection, the delivery goroutine, and one goroutine per
// subscribed channel (join, rejoin, leave). Close stops and waits for all
// of them; Unsubscribe stops the channel's.
package client
