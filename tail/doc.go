// Package tail prints the changes of a replication stream that match a set
// of tables, a filter and event types, one JSON object per line.
//
// It is what `walcast tail` runs, and what integration tests and benchmarks
// use to watch a database. Output is buffered and flushed when the server
// has caught up, at least every 100 ms while changes flow, and before a
// position is acknowledged, so an acknowledged change has been written.
package tail
