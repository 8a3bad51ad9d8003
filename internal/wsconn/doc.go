// Package wsconn owns a WebSocket end to end, server side: the upgrade,
// reading and writing frames (RFC 6455, no extensions, no compression,
// no subprotocol), ping, pong and the close handshake, the flush pool that
// writes for every connection, parking idle connections and the raw system
// calls behind both. Nothing else reads or writes the socket.
//
// # Use
//
// A Host is made once (NewHost) with the Options every connection shares.
// Its Accept validates an upgrade request (405, 426 with
// Sec-WebSocket-Version: 13, 400, or 403 when Options.CheckOrigin refuses)
// and readies a Conn in place, which the caller holds by value so that a
// broadcast to thousands of connections fetches one object per connection,
// not two. Conn.Start starts it. From then on:
//
//   - Conn.Send queues an outbound message (a broadcast.Frame, written as
//     one text or binary frame). It never blocks; past Options.QueueBytes
//     the connection is closed with 4000 "slow consumer".
//   - Conn.Close(code, reason) starts the close handshake; Conn.Drop cuts
//     the connection without one.
//   - Handler.HandleMessage gets every inbound data message, in order, on
//     the connection's read goroutine; the bytes are valid only during the
//     call. Handler.HandleEnd is called once, at the end.
//
// Host.Close, after every connection has ended, stops the flushers and the
// idle poller.
//
// Host.AdoptRaw readies a Conn as a raw stream instead: a one-way stream
// on a connection taken over from net/http after its response head (an
// SSE response, say), written by the same writer role and flush pool,
// bounded and parked alike, but its frames written as they are, its
// peer's bytes or hang-up ending it, a heartbeat payload instead of pings,
// no idle timeout, and a final payload instead of the close handshake
// (raw.go; Conn.CloseWith gives a last payload of its own). Conn.Offer
// queues only when there is room, for a replay that must wait rather than
// overflow.
//
// # Reading
//
// Client frames must be masked; reserved bits, reserved opcodes, control
// frames over 125 bytes or fragmented, continuation frames out of place
// and invalid close payloads close the connection with 1002; a text
// message (fragments together) that is not UTF-8, or a close reason that is
// not, with 1007; a message over Options.MaxMessageBytes with 1009, decided
// from the frame header before its payload is read. Control frames may come
// between the fragments of a message. A ping is answered with a pong of the
// same payload; a close frame with the same code (an empty close frame
// when it had none), after which the socket is closed.
//
// The read buffer is pooled (4 KiB) and taken only while there is
// something to parse; a frame bigger than that gets a buffer of its own
// size, dropped after it. An idle connection holds none.
//
// # Goroutines and writer roles
//
// Every frame a connection sends, data or control, is written by the one
// goroutine that holds its writer role (Conn.writing), so frames never
// interleave and no lock is held across a write:
//
//   - Send, or queueing a control frame, takes the role when it is free
//     and puts the connection in line at the Host's flushPool;
//   - a flusher (at most GOMAXPROCS, only while there is work) takes the
//     role over: it frames the pending control frames and up to 256 KiB of
//     queued messages into one buffer and writes it with one non-blocking
//     send(2), then gives the role back (or keeps it and gets back in line
//     when more is queued). A message over 32 KiB is not copied: the
//     buffer gets its frame header, and the buffer and the message's own
//     bytes go out together in a non-blocking sendmsg(2) (up to 64 KiB of
//     messages, at least one, and 64 iovecs a call; other Unix systems: a
//     send per piece). With Options.WriteCoalesce a recently written
//     connection waits in the pool's heap meanwhile;
//   - when the socket cannot take it all, or raw I/O is off, the flusher
//     hands the role to a writer goroutine of the connection's own
//     (writeBlocking), with what is left from the byte where the send
//     stopped (a frame cut short is continued, never sent again); it
//     writes with a deadline of WriteTimeout (writev for big messages)
//     until nothing is left, then gives the role back;
//   - after the close frame is written, or a write failed, the role is
//     never given back: nothing more is written.
//
// Control frames wait in a slot (Conn.ctl) that the holder empties before
// each batch: pong and ping go out between whole data frames, ahead of
// queued data. Close discards the queue, so the close frame goes out next;
// the read loop then waits for the peer's close frame or the end of the
// stream, and the timer cuts the connection after WriteTimeout.
//
// The read goroutine reads, parses and calls the Handler. Between
// messages, when nothing read is left to parse, it parks the connection
// and returns (Linux: the Host's epoll instance wakes it when the socket is
// readable or hangs up), so an idle connection has no goroutine. Whoever
// ends a parked connection unparks it, and the read that fails tears it
// down. Without parking the goroutine blocks in the read.
//
// A timer per connection, whose callback runs on the runtime's timer
// goroutine, closes the connection with 4001 after IdleTimeout without a
// data message, pings it after PingInterval of silence (the pong wakes a
// parked connection like any data), drops it when a ping is unanswered for
// WriteTimeout, and cuts a close handshake that did not end in
// WriteTimeout.
//
// The writer goroutine and the timer's callback are counted by Conn.wg
// (enter refuses once the connection is torn down); the read
// goroutine tears down and waits for them before calling HandleEnd. A
// flusher holds no count: the socket it may still write to is closed by
// then, and Host.Close waits for the flushers.
//
// # Locks
//
// Lock order: a caller's own locks (transport holds a channel's lock while
// it sends), then Conn.mu (timer state, teardown), Conn.ctlMu (the control
// slot), the broadcast.Queue's lock, the flushPool's lock, sock.fdMu
// (held only around the non-blocking sends of one write, or the close of
// the socket). None of these is held while another is taken, except that
// Send may take the later ones under a caller's lock; none is held across
// a blocking write or a call of the Handler, and a mutex is always
// unlocked by the goroutine that locked it.
//
// # Raw I/O
//
// With Options.RawIO on a Unix socket, sends and receives are non-blocking
// system calls on the descriptor, read once (sock.fd, guarded by fdMu
// against a concurrent close and the reuse of its number). On Linux (but
// 386) they are raw send(2)/recv(2) calls (sendmsg(2) for a big message),
// which skip the runtime's system-call bookkeeping (sock_raw_linux.go says
// why that was measured to matter); race-detector builds use them too.
// Waiting is always the runtime poller's. Without RawIO, or on other
// systems, or for a net.Conn that is not a socket (TLS), every write is a
// blocking net.Conn write from the writer goroutine and every read a
// net.Conn read.
//
// # What a peer sees
//
// A peer that stops reading is closed with 4000 once its queue overflows,
// the close frame queued behind what the socket already holds; if it does
// not take a write within WriteTimeout it is dropped without a close frame
// (it would not read one): it sees the TCP connection end (EOF, or a reset
// when unread data was pending on our side), which a WebSocket client
// reports as 1006 abnormal closure.
package wsconn
