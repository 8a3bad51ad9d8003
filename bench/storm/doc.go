// Package storm is the storm workload: many clients connecting and joining
// at once (a join storm), then a share of them dropping their sockets and
// reconnecting together (a reconnect storm), walcast vs Centrifugo on
// fresh servers in the same run. It measures the time until every client
// is joined, the clients that failed, and the server's CPU.
package storm
