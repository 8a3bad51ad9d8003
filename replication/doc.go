// Package replication reads row changes from Postgres through a logical
// replication slot with the built-in pgoutput plugin and hands them, one
// committed transaction at a time, to a Handler.
//
// It owns the replication connection (one goroutine receives, parses, answers
// keepalives and acknowledges), the publication and slot, the pgoutput
// decoder, and the JSON rendering of values (per-type fast paths chosen once
// per column). It imports nothing else from walcast.
//
// Acknowledgement: the end LSN of a transaction is confirmed to the server only
// after the Handler returned for its commit; when nothing is in flight, the
// keepalive's WAL end is confirmed so the slot moves on quiet tables.
//
// Buffer ownership: a Change and the slices it references are valid only
// during the Handler call that receives it.
package replication
