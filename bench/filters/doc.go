// Package filters is the filters workload: rows/s through walcast's filter
// index with 1 to 100,000 eq subscriptions on one table.
package filters
