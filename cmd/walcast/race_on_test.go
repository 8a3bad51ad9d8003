//go:build race

package main

// buildFlags builds the walcast binary of the tests with the race detector
// when the tests run with it, so node processes are checked too.
var buildFlags = []string{"-race"}
