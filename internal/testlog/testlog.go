// Package testlog gives tests a *slog.Logger that writes through t.Log, so
// log lines appear with the test that produced them (and only when it fails
// or runs with -v).
package testlog

import (
	"log/slog"
	"strings"
	"testing"
)

// New returns a text logger at level that logs through t.
func New(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(writer{t}, &slog.HandlerOptions{Level: level}))
}

// writer logs through t, and drops lines written after the test ended (a
// connection torn down during cleanup still logs; t.Log then panics).
type writer struct{ t testing.TB }

func (w writer) Write(p []byte) (int, error) {
	defer func() { recover() }()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
