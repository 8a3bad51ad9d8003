// Package relay carries a node's broadcasts to the other nodes of a
// deployment through Postgres, behind transport.Config.Relay.
//
// Every broadcast of the node (client pushes, REST publishes) reaches the
// Relay's Publisher un-encoded. It delivers to the node's own subscribers
// first, synchronously, then copies the envelope into a queue. One writer
// goroutine (Run) sends the queue to Postgres, one batch per round trip:
// a batch holds every envelope queued while the previous one was in
// flight, so batches grow with the load and a lone broadcast waits for no
// timer. Two paths (Config.Mode, the serve flag --relay) carry it:
//
//   - ModeNotify: the batch is cut into notifications of at most 5800
//     bytes (base64 keeps them under NOTIFY's 8000), numbered per
//     sender, and sent with pg_notify on channel "walcast_relay" in one
//     transaction. Each node holds one
//     LISTEN connection, owned by one goroutine (Listen; it stops with its
//     context, Close waits), which reassembles each batch and hands its
//     envelopes to the node's own Publisher. A node listens before it
//     registers, so no peer relays to it before it can hear.
//   - ModeWAL (the default of walcast serve): the batch is one
//     transactional pg_logical_emit_message with prefix "walcast.relay".
//     Every node's replication stream reads it from the node's own slot,
//     and HandleMessage hands its envelopes on.
//
// Either way the sender's own batches come back and are skipped.
//
// What is not relayed: presence diffs (presence crosses nodes through the
// shared store, presence/pgstore) and NodeLocal envelopes (database
// broadcasts: realtime.send already reaches every node through its slot).
// While cluster.Node.HasPeers says no other node lives, nothing is
// written: a single node pays nothing.
//
// # Order and delivery
//
// One sender's broadcasts are queued in the order it published them, and
// one writer sends them in that order, a batch per transaction. Postgres
// delivers a transaction's notifications together and in order, and
// transactions in commit order, as a stream delivers messages; so every
// subscriber on every node receives a sender's broadcasts once and in
// order. A large broadcast travels the same path as a small one (as more
// chunks of its batch), so no path overtakes another. The notification's
// sequence numbers and the sender's epoch (random per process) let a
// listener skip a batch sent twice (a retry after an ambiguous failure),
// drop the rest of a batch whose start it missed, and count what it lost.
//
// Delivery is at most once, like broadcast itself: a batch the database
// refuses three times is logged and lost for the other nodes, and when the
// queue passes MaxQueueBytes (64 MiB) new broadcasts reach local
// subscribers only (counted and logged). With ModeNotify a node whose
// LISTEN connection is lost opens and LISTENs again (backoff 0.1 s to
// 5 s); what the others relay in between never reaches its subscribers,
// and it logs how many notifications it missed when the next one comes.
// With ModeWAL nothing is lost while the stream reconnects: the slot
// replays it, late.
//
// # Why the slot path by default
//
// Measured on a quiet 2-core machine (README "Several nodes"), batched
// per round trip, the slot path was as fast across nodes as NOTIFY or
// faster: cross-node p50/p99 1.2-1.9/3.6-5.6 ms against 1.7-2.0/5.4-7.2 ms
// at 200 broadcasts/s to 100 subscribers over 2-3 nodes, 3.9/15 ms against
// 4.5/28 ms at 500/s to 200. One message at a time NOTIFY is faster (it is
// delivered at commit, unflushed, where a logical message waits for its
// commit's flush and is decoded once per node), but batching hides that,
// and the slot path loses nothing while a node reconnects. Under heavy
// load from other work the two traded places from run to run.
//
// What NOTIFY costs besides (it writes a quarter of the WAL): a session per
// node that transaction poolers break (walcast needs a direct connection
// for its slot anyway); a cluster-wide lock at the commit of every
// notifying transaction (one per relay round trip, shared with any other
// application's NOTIFY); a notification queue (8 GB by default) that a node
// which stops reading but keeps its session (a paused process) holds from
// being trimmed (watch pg_notification_queue_usage(), as the WAL relay's
// slot retains WAL); broadcasts relayed while a node re-LISTENs are lost
// for it; and no order between a node's broadcasts and its presence changes
// on the other nodes (presence still travels through the slots). The slot
// path has none of these. Every node of a deployment must run the same
// relay. See BenchmarkRelayCandidates for the carriers one message at a
// time, and BenchmarkRelay for both relays under load.
package relay
