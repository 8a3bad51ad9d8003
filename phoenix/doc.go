// Package phoenix is the Supabase Realtime wire protocol (Phoenix channels)
// without any I/O: messages, the vsn 1.0.0 (JSON objects) and 2.0.0 (JSON
// arrays) text serializers, the 2.0.0 binary user broadcast frames (kind 3
// from clients, kind 4 to them), and the phx_join payload.
//
// The server decodes with DecodeText and DecodeBinary and encodes with
// AppendText and AppendBroadcastBinary; a client (package client) encodes
// with AppendPush and AppendBroadcastPush and decodes with DecodeText and
// DecodeBroadcast.
//
// Decoders take hostile bytes: they never panic on malformed input, bound
// JSON nesting, and return views of their input rather than copies.
// Encoders append to a caller's buffer, so one encoded frame can be queued
// to many sockets.
package phoenix
