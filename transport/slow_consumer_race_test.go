//go:build race

package transport

// raceEnabled: the race detector slows the slow-consumer test's 100
// in-process sockets about tenfold, so it publishes fewer messages.
const raceEnabled = true
