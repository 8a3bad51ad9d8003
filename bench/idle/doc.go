// Package idle is the idle workload: server memory per idle WebSocket
// connection, walcast vs Centrifugo.
package idle
