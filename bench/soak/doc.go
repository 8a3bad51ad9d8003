// Package soak is the soak workload: walcast serve under a steady mixed
// load (broadcast fan-out and presence churn) for minutes, its RSS, Go
// heap and goroutines sampled at a fixed interval, to show that its
// memory stays flat.
package soak
