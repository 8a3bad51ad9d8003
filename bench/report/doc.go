// Package report is what every workload writes: the JSON results (targets
// and chart series) the suite reads, the Markdown report, and the target
// table.
package report
