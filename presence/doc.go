// Package presence keeps who is in a room: per room, the members that
// tracked themselves, each with one meta (a JSON object chosen by the
// client) under a presence key, and the diffs and full states that the
// Supabase Realtime protocol sends about them.
//
// A member is one tracker, such as a joined channel of a WebSocket
// connection; it holds at most one meta per room. Several members may share
// a key (one user in two browser tabs): the state groups their metas under
// the key. Every tracked meta gets a phx_ref, an opaque string unique per
// node, by which clients tell metas apart; an update replaces the meta and
// its phx_ref, and the new meta carries the old ref as phx_ref_prev.
//
// The wire shapes:
//
//	state: {"<key>":{"metas":[{"phx_ref":"...",...user fields}]}}  ({} when empty)
//	diff:  {"joins":{<same as state>},"leaves":{<same as state>}}
//
// ParseMeta turns an untrusted track payload into a Meta: it must be a JSON
// object; it is kept in canonical form (keys sorted, no insignificant
// space, numbers as written), so "the same payload again" is byte equality,
// and the server-owned phx_ref and phx_ref_prev keys are dropped so that a
// client cannot forge them.
//
// # Stores
//
// Store is what the transport needs. Memory is the single-node
// implementation and the default. Diffs reach subscribers through the Sink
// a Store is built with, in each room's change order, and Sync lets a
// newcomer read a room's state and subscribe to its diffs in one step, so
// it sees every later diff and none that is already in the state. The
// package imports nothing else from walcast and knows nothing of sockets:
// it returns bytes that the caller frames.
//
// # Concurrency
//
// Memory is safe for concurrent use. Rooms live in shards, each with its
// own lock; a change and its Sink call, and a Sync and its callback, run
// under the room's shard lock. Callbacks must therefore be quick and must
// not call back into the Store.
package presence
