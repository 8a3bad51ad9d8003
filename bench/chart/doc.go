// Package chart draws the PNG charts of docs/benchmarks from the JSON
// results of the workloads (the chart command, and the suite at its end).
package chart
