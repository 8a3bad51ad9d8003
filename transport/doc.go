// Package transport serves the Supabase Realtime protocol (Phoenix channels
// over WebSocket) so that @supabase/realtime-js works unmodified.
//
// The codecs live in package phoenix; this package holds the server, its
// connections and channels, and the REST broadcast API.
//
// # Server
//
// Server (server.go, conn*.go, channel*.go, writer*.go) serves the routes
// /realtime/v1/websocket (what supabase-js dials), /socket/websocket
// (self-hosted Supabase's path) and /healthz. Before upgrading it checks
// the apikey (x-api-key or apikey header, else the apikey query parameter)
// with the auth.Verifier and answers a bad one with 401 {"error": msg};
// vsn must be 1.0.0 (the default) or 2.0.0, else 400.
//
// Any Origin is accepted: browsers of any application connect, as they do to
// Supabase, and the apikey is what authorizes a connection. Compression is
// not negotiated (it costs a flate state per socket; realtime-js does not
// ask for it).
//
// Per connection the server answers heartbeats, joins, leaves and
// access_token pushes with Phoenix's semantics, delivers postgres_changes
// from a changes.Dispatcher, and closes a channel with a system message and
// phx_close when its token expires.
//
// # Broadcast
//
// Every joined channel is in a room of the server's broadcast.Hub, keyed by
// its sub-topic and whether it is private (public and private channels of
// one name are different rooms). A broadcast push (channel_broadcast.go) is
// encoded once per serializer and published to the room: a text push is
// forwarded verbatim as text; a binary kind-3 push goes out as kind 4 to
// vsn 2.0.0 sockets and as text to vsn 1.0.0 ones (a raw-bytes payload has
// no text form and reaches vsn 2.0.0 sockets only). config.broadcast.self
// decides whether the sender hears itself, ack whether it gets a reply;
// payloads over MaxPayloadBytes are dropped (answered
// "payload_size_exceeded" with ack).
//
// The REST endpoints (rest*.go) POST /api/broadcast (a batch, delivered as
// text) and POST /api/broadcast/{topic}/events/{event} (JSON or raw bytes,
// delivered like a binary push), also under /realtime/v1, take a JWT in
// Authorization: Bearer, the apikey header or the apikey query parameter.
// Server.HandleMessage (dbmessage.go) publishes the broadcasts the database
// emits with realtime.send and realtime.broadcast_changes, which reach the
// replication stream only when their transaction commits.
//
// Limits (limits.go): JoinsPerSecond per connection (a join past it is
// refused with ClientJoinRateLimitReached), MessagesPerSecond per
// connection averaged over 5 s (past it the channel gets the system error
// "Too many messages per second" and phx_close), and RESTMessagesPerSecond
// per client IP (429).
//
// # Seams
//
// What a deployment of several nodes, or an authorization policy, changes
// plugs in through Config without touching the connection layer:
//
//   - Config.Relay wraps the node's own broadcast.Publisher (publish.go).
//     Every broadcast goes out through it un-encoded, as a
//     broadcast.Envelope: client pushes, REST and database broadcasts and
//     presence diffs alike. A relay delivers locally first, carries the
//     envelope to other nodes, and hands what other nodes send it to the
//     local Publisher, which encodes once per serializer for its sockets.
//   - Config.Presence builds the presence.Store from the sink its diffs go
//     to; member ids come from the store.
//   - Config.Authorizer (authorize.go) is asked at join and on each token
//     refresh, and the access it returns before a channel's first
//     broadcast and first track; REST publishes ask it the same way.
//   - postgres_changes bindings carry the token's role and claims
//     (changes.Viewer) to the dispatcher, which authorizes them; a token
//     refresh hands it the new viewer (SetViewer).
//
// # Presence
//
// Presence (channel_presence.go) is kept per room by a presence.Store (by
// default a presence.Memory). A channel that joins with config.presence.enabled gets
// presence_state at once (the room's members, {} when empty), and its
// later diffs; a track on a channel joined without presence enables it the
// same way first. A channel tracks one meta under config.presence.key, or a
// random UUID when the key is missing or empty; the same meta again is a
// no-op, another one an update. Every change reaches every channel of the
// room that enabled presence, the tracker's own included, as one
// presence_diff encoded once per serializer; channels that did not enable
// presence get none, since realtime-js would hold them for a state that
// never comes. A channel's meta leaves when it stops, however it stops.
// Limits: PresenceMaxCalls pushes per PresenceWindow per channel ("Client
// presence rate limit exceeded") and a track payload of MaxPayloadBytes
// ("Track message size exceeded"); past either the channel gets the system
// error and phx_close.
//
// # Concurrency
//
// An idle connection has no goroutine: between messages its read loop
// parks the connection (park.go) and returns, and the server's idle poller
// (an epoll instance of its own, on Linux) starts the read loop again when
// the socket is readable or hangs up. Whoever ends a parked connection
// unparks it, so that its read fails and the read loop tears it down. The
// server pings only connections silent for PingInterval. On Linux neither
// the sockets nor the idle poller's epoll instance are ever waited on in a
// blocking system call: reads, writes, epoll_ctl and epoll_wait are raw
// non-blocking calls, and waiting is the runtime poller's (sock_raw_linux.go
// says why).
//
// Replies, changes and system messages are pushed into the connection's
// queue (a broadcast.Queue bounded by QueueBytes) from whichever goroutine
// produces them, the changes dispatcher included, and a push never blocks:
// a full queue closes the connection as a slow consumer. The push puts the
// connection in line at the server's flush pool (writer_pool.go): at most
// GOMAXPROCS flushers frame the queued messages into one buffer and write
// it with one non-blocking syscall (with WriteCoalesce set, at most once
// per that interval per connection). A socket that cannot take it all, or
// a message over 32 KiB, gets a writer goroutine of its own (writer.go)
// whose writes have WriteTimeout. coder/websocket writes only control
// frames, through the same lock, so frames never interleave.
//
// Short-lived helpers (a join waiting for its subscription, the idle/ping
// timer's callback, a token expiry, the closer) are registered with the
// connection, and its teardown waits for all of them; Shutdown and Close
// wait for every connection's teardown, then for the flushers and the idle
// poller, so no goroutine outlives them.
//
// # Close codes
//
//	1009 message too big   an inbound message exceeded MaxFrameBytes
//	1012 server restarting Shutdown
//	4000 slow consumer     the outbound queue overflowed (QueueBytes)
//	4001 idle timeout      no inbound message for IdleTimeout
//
// A client that does not take a write within WriteTimeout, or does not
// answer a ping within it, is dropped without a close frame: it would not
// read one either. realtime-js reconnects after every close it did not
// initiate, whatever the code.
package transport
