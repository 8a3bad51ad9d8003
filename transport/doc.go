// Package transport serves the Supabase Realtime protocol (Phoenix channels
// over WebSocket) so that @supabase/realtime-js works unmodified.
//
// The codecs live in package phoenix; this package holds the server, its
// connections and channels, and the REST broadcast API.
//
// # Server
//
// Server (server.go, conn*.go, channel*.go) serves the routes
// /realtime/v1/websocket (what supabase-js dials), /socket/websocket
// (self-hosted Supabase's path) and /healthz. Before upgrading it checks
// the apikey (x-api-key or apikey header, else the apikey query parameter)
// with the auth.Verifier and answers a bad one with 401 {"error": msg};
// vsn must be 1.0.0 (the default) or 2.0.0, else 400.
//
// Any Origin is accepted: browsers of any application connect, as they do to
// Supabase, and the apikey is what authorizes a connection. Compression is
// not negotiated (it costs a flate state per socket; realtime-js does not
// ask for it). The WebSocket itself (handshake, frames, ping/pong, close,
// writing and parking) is package internal/wsconn's; this package keeps
// the protocol state of each connection.
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
// per client IP (429). Sizes a client chooses are bounded too:
// MaxTopicBytes, MaxEventBytes, MaxBindings per join, MaxJSONDepth,
// MaxPresenceBytes and, optionally, MaxConnsPerIP (429 on upgrade).
//
// What the server relays is valid for every receiver: a binary push whose
// topic, event or metadata is not UTF-8, or whose JSON payload is not
// UTF-8 JSON, is refused (phoenix.DecodeBinary), as are REST bodies that
// are not UTF-8 (400) and database broadcasts whose payload is not. A
// message whose envelope decoded but whose payload was refused is answered
// (conn_refuse.go): a join with a join error, a broadcast with an error
// reply when its channel asked for acks, any other push with a ref with
// an error reply; the connection stays.
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
// presence rate limit exceeded") and a track payload of MaxPresenceBytes
// ("Track message size exceeded"); past either the channel gets the system
// error and phx_close.
//
// # Feeds
//
// GET /realtime/v1/sse and GET /realtime/v1/poll (feed*.go, sse.go,
// poll.go) are one-way feeds over plain HTTP. One feed carries any mix,
// up to MaxChannels in all, of postgres_changes bindings (schema, table,
// filter, event, or repeated sub=schema.table:event:filter), broadcast
// rooms (repeated broadcast=TOPIC) and, on SSE only, presence rooms
// (repeated presence=TOPIC, read-only); private=true makes its rooms the
// private ones. A room is entered as a join enters it: the join's topic
// checks (subTopicProblem), the Authorizer asked with the feed's token
// (a refusal is a 403 with the join's reason), the same hub room, and for
// presence the store's Sync, so the presence_state and the diffs after it
// neither miss nor repeat a change. A feed's rooms take the hub's vsn
// 1.0.0 text frames, converted once per frame for all feeds
// (roomEventCache). postgres_changes events carry their cursor (SSE id:,
// the poll's cursor) and resume after it; broadcasts are not retained, so
// broadcast and presence events carry none and a resumed feed gets only
// what came after it reconnected. A feed's queue is bounded like a
// socket's; past it the feed ends (SSE) and its client reconnects. A
// stream ends when its token expires, and a poll's wait at that expiry.
// An open feed counts against MaxConnsPerIP as a WebSocket does.
//
// # Concurrency
//
// Each connection (conn.go) is a wsconn.Conn, held by value, and the
// protocol state around it: its channels and limits. wsconn calls the
// conn's HandleMessage for every inbound message on the connection's read
// goroutine, and HandleEnd once when the socket has ended; everything
// about goroutines on the socket side (the read loop and parking, the
// flush pool and writer goroutines, the idle/ping timer) and its locks is
// written down in internal/wsconn's package documentation.
//
// Replies, changes and system messages are sent through wsconn.Conn.Send
// from whichever goroutine produces them, the changes dispatcher and the
// hub's publishers included; Send never blocks: a full queue (QueueBytes
// plus two maximal broadcasts, Config.queueBound) closes the connection
// as a slow consumer. Messages are handled one at a
// time, in order; a join, presence push or token refresh runs on a
// short-lived goroutine the read goroutine waits for (conn.deep), to keep
// the read goroutine's stack small.
//
// Short-lived helpers (a join waiting for its subscription, a token
// expiry) are registered with the connection (conn.spawn), and its
// teardown, run from HandleEnd, stops its channels and waits for all of
// them. Shutdown sends every connection a close frame and waits for every
// teardown, then closes the wsconn.Host (its flushers and idle poller);
// Close drops the sockets at once and does the same. No goroutine outlives
// them.
//
// Lock order: channel.mu, then conn.mu, then wsconn's locks; wsconn never
// calls into a conn while it holds a lock.
//
// # Close codes
//
//	1002 protocol error    a frame broke RFC 6455 (unmasked, reserved bits or opcodes, bad control frame)
//	1007 invalid payload   a text message (or close reason) that is not UTF-8
//	1009 message too big   an inbound message exceeded MaxFrameBytes
//	1012 server restarting Shutdown
//	4000 slow consumer     the outbound queue overflowed (QueueBytes)
//	4001 idle timeout      no inbound message for IdleTimeout
//	4002 server overloaded all queues together (feeds' too) held more than MaxQueuedBytes: the longest backlogs go first (budget.go)
//
// A client's close frame is answered with its own code. A client that does
// not take a write within WriteTimeout, does not answer a ping within it,
// or does not answer a close frame within it, is dropped without (another)
// close frame: it would not read one either, and sees the connection end
// (1006 in a browser). realtime-js reconnects after every close it did not
// initiate, whatever the code.
package transport
