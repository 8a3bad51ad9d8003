package conformance

import "testing"

// TestPresence: presence state, track, update, untrack, two metas under one
// key, and leaves on disconnect and on a dead socket, seen by realtime-js
// clients.
func TestPresence(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		h.run(vsn, "presence.mjs", "/realtime/v1", nil)
	})
}
