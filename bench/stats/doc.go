// Package stats summarises measurements: medians, rates and latency
// histograms, and writes them as Markdown tables.
package stats
