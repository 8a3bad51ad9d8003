// Package sse is the SSE workload: walcast's Server-Sent Events feed
// beside its WebSocket transport in the same run, with a fresh walcast
// serve per row, alternating the two:
//
//   - fan-out: subscribers to one table's postgres_changes, rows inserted
//     at a fixed rate; deliveries per server CPU-second, commit-to-receive
//     latency, and every delivery counted and checked;
//   - idle: server RSS per connection (an SSE stream, or a WebSocket
//     joined to one postgres_changes channel) after a garbage collection
//     that ran with every connection up;
//   - replay: one client resuming from the start of a retention window
//     (SSE Last-Event-ID, WebSocket config.postgres_changes_resume), time
//     until the window's last change arrives.
package sse
