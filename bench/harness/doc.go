// Package harness runs what the workloads measure: throwaway Postgres
// clusters, walcast serve and Centrifugo processes, load processes (this
// binary re-executed), WebSocket clients of both servers, and the CPU and
// memory readings of processes.
package harness
