package relay

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotifyChannel is the NOTIFY channel of relayed broadcasts (ModeNotify).
const NotifyChannel = "walcast_relay"

// A batch crosses as one or more notifications, committed together: a
// notification is the base64 of a version byte, a flags byte (first and
// last chunk of a batch), the sending node, the sender's epoch (random per
// process) and sequence number as uvarints, then up to notifyChunk bytes
// of the batch. NOTIFY takes payloads under 8000 bytes: 5800 bytes and a
// header of at most 86 make 7848 in base64.
const (
	notifyVersion = 1
	notifyChunk   = 5800
)

const (
	chunkFirst = 1 << iota
	chunkLast
)

// Bounds of what the listener keeps: a batch being reassembled (the
// writer's queue bound, twice) and the senders it follows (any role that
// may NOTIFY can write to the channel).
const (
	maxPendingBytes = 2 * DefaultMaxQueueBytes
	maxSenders      = 1024
)

// notifySQL sends one batch's notifications in one transaction, in order.
// synchronous_commit=off: a notification is delivered at commit, whether
// or not the commit record is on disk yet, and a lost broadcast after a
// crash costs nothing a broadcast promises.
const notifySQL = `SELECT count(pg_notify($1, p)) FROM (SELECT set_config('synchronous_commit', 'off', true)) s, unnest($2::text[]) AS p`

func appendChunk(dst []byte, flags byte, node string, epoch, seq uint64, data []byte) []byte {
	dst = append(dst, notifyVersion, flags)
	dst = appendBytes(dst, node)
	dst = binary.AppendUvarint(dst, epoch)
	dst = binary.AppendUvarint(dst, seq)
	return append(dst, data...)
}

// notifications cuts a batch into the payloads of its notifications,
// numbered from r.seq on.
func (r *Relay) notifications(batch []byte) []string {
	var out []string
	var chunk []byte
	for off := 0; off < len(batch); off += notifyChunk {
		end := min(off+notifyChunk, len(batch))
		var flags byte
		if off == 0 {
			flags |= chunkFirst
		}
		if end == len(batch) {
			flags |= chunkLast
		}
		chunk = appendChunk(chunk[:0], flags, r.cfg.Node, r.epoch, r.seq, batch[off:end])
		r.seq++
		out = append(out, base64.RawStdEncoding.EncodeToString(chunk))
	}
	return out
}

// sendNotify sends a batch as notifications in one transaction, so that
// every listener gets all of it or none, after the sender's previous
// batches and before its next. A batch the database refuses three times is
// lost for the other nodes; a retry after an ambiguous failure may send
// it twice, which the sequence numbers make the listeners skip.
func (r *Relay) sendNotify(ctx context.Context, batch []byte) {
	payloads := r.notifications(batch)
	for attempt := 0; ; attempt++ {
		_, err := r.cfg.Pool.Exec(ctx, notifySQL, NotifyChannel, payloads)
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt == 2 {
			r.log.Error("relaying broadcasts to other nodes failed; they reached this node's subscribers only", "bytes", len(batch), "error", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond << attempt):
		}
	}
}

// Listen opens the LISTEN connection (ModeNotify; otherwise it does
// nothing) and starts the goroutine that owns it: it hands other nodes'
// broadcasts to the node's Publisher until ctx ends or Close. Call it
// before the node registers, so that no peer relays to it before it
// listens.
func (r *Relay) Listen(ctx context.Context) error {
	if r.cfg.Mode != ModeNotify {
		return nil
	}
	conn, err := r.connectListener(ctx)
	if err != nil {
		return err
	}
	ctx, r.stopListen = context.WithCancel(ctx)
	r.listenWG.Go(func() { r.listen(ctx, conn) })
	return nil
}

// Close stops the listener and waits for it.
func (r *Relay) Close() {
	if r.stopListen != nil {
		r.stopListen()
	}
	r.listenWG.Wait()
}

func (r *Relay) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, r.cfg.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("relay: connect for LISTEN: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("relay: LISTEN %s: %w", NotifyChannel, err)
	}
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// listen delivers notifications until ctx ends. A lost connection is
// opened and LISTENed again with a backoff; what other nodes relay in
// between is lost for this node's subscribers (the listener logs how many
// notifications it missed when the next one comes).
func (r *Relay) listen(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			closeConn(conn)
		}
	}()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			r.handleNotification(n.Payload)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("the relay's LISTEN connection was lost; broadcasts other nodes relay until it is back do not reach this node", "error", err)
		closeConn(conn)
		conn = nil
		for delay := 100 * time.Millisecond; conn == nil; delay = min(2*delay, 5*time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			if conn, err = r.connectListener(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("listening again failed; retrying", "error", err)
			}
		}
		r.log.Info("the relay listens again")
	}
}

// pendingBatch is what the listener knows of one sender: its epoch, the
// sequence number it expects next, and the batch being reassembled.
type pendingBatch struct {
	epoch, next uint64
	open        bool
	buf         []byte
}

var errChunk = errors.New("malformed relay notification")

// handleNotification takes one notification on the listener goroutine:
// it skips the node's own, duplicates and the rest of a batch whose start
// it missed, reassembles batches and delivers each whole one.
func (r *Relay) handleNotification(payload string) {
	if r.local == nil {
		return
	}
	raw, err := base64.RawStdEncoding.DecodeString(payload)
	if err != nil {
		r.log.Warn("skipping a relay notification", "error", errChunk)
		return
	}
	rd := reader{b: raw}
	version, flags := rd.byte(), rd.byte()
	node := string(rd.bytes())
	epoch, seq := rd.uvarint(), rd.uvarint()
	if rd.err != nil || version != notifyVersion || node == "" {
		r.log.Warn("skipping a relay notification", "error", errChunk)
		return
	}
	if node == r.cfg.Node {
		return
	}
	p := r.senders[node]
	if p == nil || p.epoch != epoch {
		if p != nil && p.open {
			r.log.Warn("a relayed batch was cut short: its sender restarted", "from", node)
		}
		if p == nil && len(r.senders) >= maxSenders {
			clear(r.senders)
		}
		if r.senders == nil {
			r.senders = make(map[string]*pendingBatch)
		}
		p = &pendingBatch{epoch: epoch, next: seq}
		r.senders[node] = p
	}
	switch {
	case seq < p.next:
		return // sent again after an ambiguous failure
	case seq > p.next:
		r.log.Warn("relayed broadcasts from another node were lost while this node was not listening", "from", node, "notifications", seq-p.next)
		p.open, p.buf = false, p.buf[:0]
	}
	p.next = seq + 1
	if flags&chunkFirst != 0 {
		p.open, p.buf = true, p.buf[:0]
	}
	if !p.open {
		return
	}
	if len(p.buf)+len(rd.b) > maxPendingBytes {
		r.log.Warn("skipping a relayed batch larger than the relay's bound", "from", node, "max_bytes", maxPendingBytes)
		p.open, p.buf = false, nil
		return
	}
	p.buf = append(p.buf, rd.b...)
	if flags&chunkLast != 0 {
		r.deliver(p.buf, "from", node, "seq", seq)
		// The envelopes alias the buffer: the next batch takes a new one.
		p.open, p.buf = false, nil
	}
}
