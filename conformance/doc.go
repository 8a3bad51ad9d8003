// Package conformance runs the Supabase Realtime JavaScript client,
// @supabase/realtime-js 2.119.0 unmodified, against walcast serve.
//
// Each test gets a fresh database (internal/pgtest), creates its tables and
// the publication, builds cmd/walcast once per test binary, starts
// `walcast serve` on a free port with its own slot, and runs one script of
// testdata/realtime-js with node, once per protocol version (vsn 1.0.0 and
// 2.0.0). The script subscribes through realtime-js and talks to the test
// in JSON lines: it prints {"ready":"<step>"} when it wants the test to act
// (run the step's SQL, restart the server), the test answers
// {"go":"<step>"} on the script's stdin, and the script checks what
// realtime-js delivered, printing one {"check":...} line per assertion and
// {"done":true,...} at the end. The test fails on a failed check, a missing
// "done" line or a non-zero exit status, and then logs the frames the
// script traced and the server's log (always, with
// WALCAST_CONFORMANCE_TRACE=1 and -v).
//
// TestGoClient puts the Go client (package client) in a room with
// realtime-js (goclient.mjs): each checks the other's presence and
// broadcasts, the Go side in the steps it answers.
//
// The scripts need node and the packages of the repository's
// package-lock.json:
//
//	npm ci
//
// Without them the tests skip, or fail when the CI environment variable is
// set.
package conformance
