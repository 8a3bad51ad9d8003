// Package fanout is the fan-out workload: broadcast deliveries/s, latency
// and server CPU per delivery, walcast vs Centrifugo.
package fanout
