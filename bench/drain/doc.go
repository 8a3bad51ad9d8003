// Package drain is the drain workload: pg_recvlogical, walcast tail and a
// WebSocket subscriber of walcast serve draining identical WAL.
package drain
