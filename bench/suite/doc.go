// Package suite runs every workload in turn, then draws the charts and
// writes the summary README of docs/benchmarks.
package suite
