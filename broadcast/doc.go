// Package broadcast owns the outbound side of a connection that is shared by
// every kind of message walcast sends: a Frame (one WebSocket message split
// into a per-connection Head and Tail around a Body shared by every
// recipient) and the Queue that holds a connection's frames until its writer
// sends them. It imports nothing else from walcast and knows nothing about
// Postgres, WebSockets or the Phoenix protocol: it moves opaque bytes.
//
// # Concurrency
//
// A Queue may be pushed to from any number of goroutines (the replication
// dispatcher, a connection's read loop, timers) and is drained by one writer.
// Push never blocks: when the queue holds more than its byte bound it
// refuses the frame and the caller disconnects the client as a slow
// consumer. Nothing a client does can therefore slow down the goroutine that
// pushes to it.
//
// # Retention
//
// A Retainer keeps copies of recent broadcasts, one ring over every room
// bounded in bytes and age, so that a channel joining later can have a
// room's recent broadcasts replayed. Hub.PublishWith keeps a broadcast
// under the hub's lock and SubscribeThen reads under it, so a joining
// subscriber gets each broadcast either replayed or live, never both.
// Age is applied when a broadcast is kept or read: a quiet node holds its
// last broadcasts past their age, never past the byte bound.
//
// # Buffer ownership
//
// A pushed Frame's slices belong to the queue, then to the writer that popped
// it, until the writer has written it; nobody may modify them meanwhile.
// Bodies are shared between connections and are never modified by anyone,
// so they must not come from a pool that recycles them.
package broadcast
