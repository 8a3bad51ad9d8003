// Package relay carries a node's broadcasts to the other nodes of a
// deployment through Postgres, behind transport.Config.Relay.
//
// Every broadcast of the node (client pushes, REST publishes) reaches the
// Relay's Publisher un-encoded. It delivers to the node's own subscribers
// first, synchronously, then copies the envelope into a queue. One writer
// goroutine (Run) commits the queue as a transactional
// pg_logical_emit_message with prefix "walcast.relay": one message per
// round trip, holding every envelope queued while the previous commit was
// in flight, so batches grow with the load and a lone broadcast waits for
// no timer. Every node's replication stream reads the message from the
// node's own slot; HandleMessage decodes it and hands each envelope to the
// node's own Publisher, which encodes it once per serializer for its
// sockets. The sender's own messages come back too and are skipped.
//
// What is not relayed: presence diffs (presence crosses nodes through the
// shared store, presence/pgstore) and NodeLocal envelopes (database
// broadcasts: realtime.send already reaches every node through its slot).
// While cluster.Node.HasPeers says no other node lives, nothing is
// written: a single node pays nothing.
//
// # Order and delivery
//
// One sender's broadcasts are queued in the order it published them and
// one writer commits them in that order; each stream delivers messages in
// commit order. So every subscriber on every node receives a sender's
// broadcasts once and in order. Delivery is at most once, like broadcast
// itself: a batch the database refuses three times is logged and lost for
// the other nodes, and when the queue passes MaxQueueBytes (64 MiB) new
// broadcasts reach local subscribers only (counted and logged).
//
// # Why through each node's slot
//
// Measured on this machine (Postgres 15, 2 cores, busy with other work;
// figures in README "Several nodes"), the candidates were:
//
//   - a transactional pg_logical_emit_message read from each node's own
//     slot: no size limit, no extra connection, ordered with the
//     database's own broadcasts and presence by LSN, and no global lock;
//     latency is a commit plus the walsender's decode;
//   - NOTIFY (as the payload, or as a wake-up over a table): lower latency,
//     but payloads under 8000 bytes (a broadcast may carry 3 MB), a
//     cluster-wide lock on every commit that carries a NOTIFY, a session
//     per node that transaction poolers break, and for the table variant
//     a poll and a clean-up;
//   - batching per millisecond: a fixed timer adds its period to every
//     lone broadcast; batching per round trip gets the same amortization
//     under load without it.
//
// The cost: each relayed batch is WAL on the primary (retained for every
// slot until each node confirms it) and is decoded once per slot, that is
// once per node. The relayed bytes are the envelope: topic, event, meta,
// payload and a few bytes of framing, once per batch of broadcasts.
// See BenchmarkRelayCandidates for the latency comparison.
package relay
