// Package cluster is a node's membership in a deployment of several
// walcast nodes on one database: its registration, heartbeats, the
// detection of dead nodes, and the clean-up of their slots.
//
// # Registry
//
// realtime.walcast_nodes (sql/migrations/0100_cluster.sql) holds a row per
// node id: the node's current incarnation, address, slot, last heartbeat,
// and dead_at once it was declared dead. An incarnation is one life of a
// node, numbered from a global sequence: a node takes a new one at every
// start and whenever it finds itself declared dead. Node.Start registers;
// a previous incarnation of the same id that was not yet declared dead (a
// restart within the TTL) is declared dead in the same transaction. Start
// refuses a node id whose slot a walsender is streaming from: another
// process runs under that id.
//
// # Liveness
//
// Every Heartbeat (default 2 s) a node refreshes its row, and declares dead
// every other node whose heartbeat is older than TTL (default 10 s), so a
// death is found within TTL + Heartbeat (12 s by default; the goal is under
// 15 s). Survivors race for it harmlessly: the row lock lets one win. The
// declaring transaction lets the Watchers delete what the dead incarnation
// left (Watcher.Bury: presence rows) and emits a transactional
// pg_logical_emit_message with prefix "walcast.node", so every node learns
// of the death from its own replication stream (Node.HandleMessage, then
// Watcher.Dead), ordered with everything else that node reads. Clocks do
// not matter: every time compared is Postgres's now().
//
// A node whose refresh finds its row dead or taken over was paused or cut
// off past the TTL: it registers again under a new incarnation and calls
// Watcher.Reincarnated, so that the presence store writes its members
// again. Writes of a dead incarnation cannot commit after its death:
// AliveTx share-locks the writer's row in the writer's transaction.
//
// A node knows its stream is live (it delivers every message committed
// from then on) when its own "hello" comes back through it: registration
// emits one, and every heartbeat does until it arrives (a slot created
// after the registration commit misses the first). Watcher.Live follows.
//
// # Graceful stop
//
// Node.Close deletes the node's row and tells the others that its
// incarnation ended (the same message as a death), so they stop counting
// it at once instead of after the TTL; its presence members already left.
//
// # Slots
//
// A dead node's row stays SlotTTL (default 1 h) after its last heartbeat;
// then a survivor drops its replication slot (unless a walsender uses it:
// the node is back) and the row, and logs it. A node that comes back
// within SlotTTL resumes its slot. Until then the slot retains WAL, at
// most max_slot_wal_keep_size.
//
// The registry is unlogged: a crash of Postgres empties it, and a node
// that stopped gracefully deleted its row. So registration also records
// the node's slot in a logged ledger, realtime.walcast_slots (a row per
// slot, written once). At every heartbeat a survivor registers the node of
// a ledger slot that no row names as dead, as of now, under incarnation 0
// (no life of the node); the slot is then dropped SlotTTL later like any
// dead node's, unless the node comes back first, and its ledger row with
// it.
//
// # Single node
//
// A lone node registers and heartbeats too (an UPDATE of an unlogged row
// every Heartbeat, no WAL), and HasPeers tells the relay that it has no
// one to relay to.
package cluster
