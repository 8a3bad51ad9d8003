// Package pgstore is a presence.Store shared by the nodes of a deployment
// through Postgres: a presence_state and its diffs are the same whichever
// node a client is on.
//
// Each node keeps the local view it answers from (a presence.Memory).
// Track, Untrack and Sync act on it at once and never wait for the
// network; a writer goroutine then commits this node's changes in
// batches: the rows of realtime.walcast_presence, keyed by (node,
// incarnation, room, member), the batch's number in
// realtime.walcast_presence_seq, and the batch itself as a transactional
// pg_logical_emit_message with prefix "walcast.presence", all in one
// transaction. Every other node reads the batch from its own slot
// (HandleMessage) and applies it to its view with Memory.Apply, keeping
// the refs the tracking node gave, so its subscribers get the same diffs
// through the same Sink as local ones. A member changed several times
// between two commits is written once, as it is now.
//
// Batches of one node incarnation are numbered; a node applies them in
// order. The table is the snapshot: once the node's stream is live
// (cluster.Watcher.Live) it reads the table in one transaction and brings
// its view of every other node up to it; batches already applied past the
// snapshot keep their place, earlier ones are skipped. A gap in a node's
// numbers (a batch committed before this node's slot existed) holds the
// later batches until such a read fills it.
//
// A dead node's members leave every view in one diff per room when the
// node registry's death message arrives (cluster.Watcher.Dead), and its
// rows are deleted in the transaction that declared it dead
// (cluster.Watcher.Bury). A node that finds itself declared dead
// (cluster.Watcher.Reincarnated) writes all its members again under the
// new incarnation, with the refs they had, and reads the others again:
// its clients see nothing, the other nodes see its members leave at the
// death and come back.
//
// Incarnations come from one sequence, so the first batch of a node's new
// incarnation drops whatever the views still hold of its older ones; a
// new incarnation always writes one, even with no members.
//
// The tables are UNLOGGED (no WAL per heartbeat or member, never in a
// publication); the batches are the WAL. After a Postgres crash the
// tables are empty, every node finds itself unregistered at its next
// heartbeat, registers again and writes its members again, and that
// first batch replaces its old incarnation in every view.
package pgstore
