// Package transport serves the Supabase Realtime protocol (Phoenix channels
// over WebSocket) so that @supabase/realtime-js works unmodified.
//
// The codecs (phoenix*.go, join*.go) turn frames into Messages and back:
// vsn 1.0.0 JSON objects, vsn 2.0.0 JSON arrays, and the 2.0.0 binary user
// broadcast frames (kind 3 in, kind 4 out). They do no I/O, never panic on
// malformed input, and encode straight into a caller's buffer so one encoded
// frame can be queued to many sockets.
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
// from a changes.Dispatcher, closes a channel with a system message and
// phx_close when its token expires, and ignores broadcast and presence
// (not served yet).
//
// # Concurrency
//
// A connection has one goroutine while idle: its read loop, started fresh
// after the upgrade so that the HTTP handler returns. Its writer exists only
// while the outbound queue has frames. Replies, changes and system messages
// are pushed into the queue (a broadcast.Queue bounded by QueueBytes) from
// whichever goroutine produces them, the changes dispatcher included, and a
// push never blocks: a full queue closes the connection as a slow consumer.
// Short-lived helpers (a join waiting for its subscription, the idle/ping
// timer's callback, a token expiry, the closer) are registered with the
// connection, and its teardown waits for all of them; Shutdown and Close
// wait for every connection's teardown, so no goroutine outlives them.
//
// Each socket write has WriteTimeout. While the writer drains a batch,
// frames are gathered in a pooled buffer and reach the socket in one write;
// each Phoenix message is still its own WebSocket message.
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
