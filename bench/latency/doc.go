// Package latency is the latency workload: commit-to-client latency of
// walcast vs a bare pgoutput receiver, and the burst runs.
package latency
