// Package replication reads row changes from Postgres through a logical
// replication slot with the built-in pgoutput plugin and hands them, one
// committed transaction at a time, to a Handler.
//
// It owns the replication connection, the publication and slot, the pgoutput
// decoder, and the JSON rendering of values (per-type fast paths chosen once
// per column). It imports nothing else from walcast.
//
// Two goroutines run a connection. The reader alone reads and writes the
// socket: it receives messages, answers the server's keepalives and sends
// status updates on time, and hands the messages to the worker through a
// bounded queue (batches of what arrived together, at most 8 MiB queued).
// The worker decodes and calls the Handler. A handler that blocks fills the queue and the reader stops
// reading, but it keeps confirming (four times per wal_sender_timeout, read
// from the server at connect), so the server never drops the connection
// because of a slow handler.
//
// Acknowledgement: the end LSN of a transaction is confirmed to the server only
// after the Handler returned for its commit; when nothing is in flight, the
// keepalive's WAL end is confirmed so the slot moves on quiet tables. The
// reader confirms what the worker acknowledged, never more.
//
// Buffer ownership: a Change and the slices it references are valid only
// during the Handler call that receives it.
package replication
