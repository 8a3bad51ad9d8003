// Package cli holds what the bench commands share on the command line:
// usage errors (exit code 2), flag helpers, and where the walcast checkout
// is.
package cli
