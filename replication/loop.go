package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// loop runs one replication connection on two goroutines. The reader (run)
// owns the connection: it alone reads and writes it, since a status update
// written concurrently with a read can corrupt it (pgx#557). It hands each
// message to the worker (work, in loop_work.go) through a bounded queue, and
// answers the server's keepalives and sends status updates on time whatever
// the handler costs: a handler that blocks holds up the changes behind it,
// never the connection, so the walsender does not time out
// (wal_sender_timeout). The status updates report what the worker has
// acknowledged (acked), never more.
type loop struct {
	s       *Stream
	conn    *pgconn.PgConn
	catalog *Catalog
	rels    map[uint32]*Relation

	// The worker's state.
	d       decoded
	change  Change
	inTx    bool
	tx      Commit
	ordinal uint32
	handled LSN // newest position whose transactions the handler took
	flushed LSN // handled, and flushed by the handler's Flusher

	// acked is s.ackable as the worker publishes it for the reader.
	acked atomic.Uint64

	// The reader's state.
	nextStatus time.Time
	lastRecv   time.Time
	// waitStatus is how often the reader confirms while the queue is full
	// and it reads nothing: often enough for the server's timeout.
	waitStatus time.Duration
}

// The reader hands messages over in batches: all those that arrived
// together (that it can read without waiting), up to batchBytes or
// batchMessages, so that a busy stream costs one hand-off per batch, not
// per message. The queue holds at most queueBatches batches and, unless it
// holds a single one, queueBytes.
const (
	batchBytes    = 1 << 20
	batchMessages = 4096
	queueBatches  = 16
	queueBytes    = 8 << 20
)

// batch is consecutive CopyData payloads: message i is buf[ends[i-1]:ends[i]].
type batch struct {
	buf  []byte
	ends []int
}

// handoff is the bounded queue between reader and worker. Batches go to the
// worker on work and come back on free; the reader counts what is out.
type handoff struct {
	work  chan *batch
	free  chan *batch
	out   int // batches handed to the worker and not yet returned
	bytes int // their size
	spare []*batch
	cur   *batch // the batch being filled
}

func newHandoff() *handoff {
	return &handoff{work: make(chan *batch, queueBatches), free: make(chan *batch, queueBatches)}
}

func (h *handoff) release(b *batch) {
	h.out--
	h.bytes -= len(b.buf)
	if cap(b.buf) <= 2*batchBytes {
		b.buf, b.ends = b.buf[:0], b.ends[:0]
		h.spare = append(h.spare, b)
	}
}

// add copies a message into the current batch: data is only valid until
// the next read.
func (h *handoff) add(data []byte) {
	if h.cur == nil {
		if n := len(h.spare); n > 0 {
			h.cur, h.spare = h.spare[n-1], h.spare[:n-1]
		} else {
			h.cur = &batch{}
		}
	}
	h.cur.buf = append(h.cur.buf, data...)
	h.cur.ends = append(h.cur.ends, len(h.cur.buf))
}

func (h *handoff) batchFull() bool {
	return h.cur != nil && (len(h.cur.buf) >= batchBytes || len(h.cur.ends) >= batchMessages)
}

// errWorkerDone: the worker stopped; its own error says why.
var errWorkerDone = errors.New("worker stopped")

func (l *loop) run(ctx context.Context) error {
	netConn := l.conn.Conn()
	h := newHandoff()
	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	workerDone := make(chan error, 1)
	// Interrupt a blocked read as soon as ctx is cancelled or the worker
	// stops. Reads otherwise use deadlines on the socket, not a context per
	// call: pgconn arms a context watcher per ReceiveMessage, which
	// allocates on every message.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	stop := context.AfterFunc(readCtx, func() { _ = netConn.SetReadDeadline(time.Now()) })
	defer stop()

	l.handled, l.flushed = l.s.ackable, l.s.ackable
	l.acked.Store(uint64(l.s.ackable))
	if l.waitStatus <= 0 {
		l.waitStatus = l.s.cfg.StatusInterval
	}
	go func() {
		defer stopReading()
		workerDone <- l.work(wctx, h)
	}()

	err := l.read(ctx, readCtx, h)
	switch {
	case ctx.Err() != nil || errors.Is(err, errWorkerDone):
		stopWorker()
	default:
		// The connection failed: let the worker handle what it was given
		// (a transaction it completes is acknowledged on the next
		// connection, not sent again) unless it fails first.
		close(h.work)
	}
	werr := <-workerDone
	switch {
	case errors.Is(err, errWorkerDone):
		err = werr
	case werr != nil && !errors.Is(werr, context.Canceled):
		err = werr // a handler's failure ends the stream: it wins
	}
	if ctx.Err() != nil || errors.Is(err, ErrStop) {
		// The worker has stopped: flush and acknowledge what it took, so a
		// later run starts after it.
		if ferr := l.finish(ctx); ferr != nil {
			return ferr
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return err
}

// read receives messages and hands them to the worker until the connection
// fails, ctx is done or the worker stops (errWorkerDone).
func (l *loop) read(ctx, readCtx context.Context, h *handoff) error {
	l.lastRecv = time.Now()
	l.nextStatus = l.lastRecv
	draining := false // the deadline is in the past: read only what is buffered
	for {
		now := time.Now()
		if !now.Before(l.nextStatus) {
			if err := l.sendStatus(ctx, true); err != nil {
				return err
			}
			if dead := 3 * l.s.cfg.StatusInterval; now.Sub(l.lastRecv) > dead {
				return fmt.Errorf("nothing received from the server for %s: connection presumed dead", dead)
			}
			l.nextStatus = now.Add(l.s.cfg.StatusInterval)
			if !draining {
				if err := l.setDeadline(readCtx, l.nextStatus); err != nil {
					return err
				}
			}
		}
		msg, err := l.conn.ReceiveMessage(context.Background())
		if readCtx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errWorkerDone
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !l.conn.IsClosed() {
				if draining {
					// Everything that had arrived is read: hand it over
					// and wait for more.
					draining = false
					if err := l.setDeadline(readCtx, l.nextStatus); err != nil {
						return err
					}
					if err := l.handOver(ctx, readCtx, h); err != nil {
						return err
					}
				}
				continue
			}
			l.handOverBestEffort(h)
			return fmt.Errorf("receive: %w", err)
		}
		l.lastRecv = now
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if err := l.take(ctx, m.Data); err != nil {
				return err
			}
			h.add(m.Data)
			if h.batchFull() {
				if err := l.handOver(ctx, readCtx, h); err != nil {
					return err
				}
			}
			if !draining {
				// Read on without waiting: what else has arrived goes
				// in the same batch.
				draining = true
				if err := l.setDeadline(readCtx, pastDeadline); err != nil {
					return err
				}
			}
		case *pgproto3.ErrorResponse:
			l.handOverBestEffort(h)
			return fmt.Errorf("server: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			l.handOverBestEffort(h)
			return errors.New("server ended the replication stream")
		}
	}
}

// pastDeadline makes a read return at once when nothing is buffered.
var pastDeadline = time.Unix(1, 0)

// setDeadline sets the read deadline, unless readCtx is done: then the
// deadline stays in the past, where its AfterFunc may have set it just
// before, so that the next read returns at once.
func (l *loop) setDeadline(readCtx context.Context, t time.Time) error {
	if err := l.conn.Conn().SetReadDeadline(t); err != nil {
		return fmt.Errorf("set read deadline: %w", err)
	}
	if readCtx.Err() != nil {
		_ = l.conn.Conn().SetReadDeadline(pastDeadline)
	}
	return nil
}

// take answers a keepalive that asks for a reply, at once, with what the
// worker acknowledged so far.
func (l *loop) take(ctx context.Context, data []byte) error {
	if len(data) >= 18 && data[0] == pglogrepl.PrimaryKeepaliveMessageByteID && data[17] == 1 {
		return l.replyStatus()
	}
	return nil
}

// handOver queues the current batch for the worker. When the queue is full
// it waits, sending status updates meanwhile so that the server does not
// time out.
func (l *loop) handOver(ctx, readCtx context.Context, h *handoff) error {
	b := h.cur
	if b == nil {
		return nil
	}
	for waited := false; ; waited = true {
		for drained := false; !drained; {
			select {
			case done := <-h.free:
				h.release(done)
			default:
				drained = true
			}
		}
		if h.out < queueBatches && (h.out == 0 || h.bytes+len(b.buf) <= queueBytes) {
			if waited {
				// Time spent waiting for the worker says nothing about
				// the server.
				l.lastRecv = time.Now()
			}
			break
		}
		timer := time.NewTimer(l.waitStatus)
		select {
		case done := <-h.free:
			h.release(done)
		case <-timer.C:
			if err := l.sendStatus(ctx, false); err != nil {
				return err
			}
		case <-readCtx.Done():
			timer.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errWorkerDone
		}
		timer.Stop()
	}
	h.cur = nil
	h.out++
	h.bytes += len(b.buf)
	h.work <- b // never blocks: fewer than cap(work) are out
	return nil
}

// handOverBestEffort queues what was read before the connection failed, if
// the queue has room.
func (l *loop) handOverBestEffort(h *handoff) {
	if h.cur != nil && h.out < queueBatches {
		h.out++
		h.work <- h.cur
		h.cur = nil
	}
}

// finish flushes the handler and acknowledges what it took. It runs once the
// worker has stopped, on the way out, with ctx possibly cancelled.
func (l *loop) finish(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	_ = l.conn.Conn().SetReadDeadline(time.Time{})
	if err := l.flush(ctx); err != nil {
		return err
	}
	return l.sendStatus(ctx, false)
}

// sendStatus confirms what the worker acknowledged, or less where the
// handler keeps transactions to get them back after a restart (Retainer):
// the flush position is what the slot moves to.
func (l *loop) sendStatus(_ context.Context, replyRequested bool) error {
	pos := LSN(l.acked.Load())
	flush := pos
	if l.s.keeper != nil {
		if kept, ok := l.s.keeper.RetainFrom(); ok && kept < flush {
			flush = kept
		}
	}
	return sendStandbyStatus(l.conn, pos, flush, replyRequested)
}

// replyStatus answers a keepalive that asked for a reply. When the handler
// retains transactions (the flush position is held back), it reports the
// received position as written and no flush position at all: Postgres
// then counts as replicated what was written, so a walsender shutting down
// with the server (which waits until everything it sent is replicated)
// stops at once instead of after wal_sender_timeout, and the slot, which
// moves only on a flush position, stays where the periodic update put it.
func (l *loop) replyStatus() error {
	pos := LSN(l.acked.Load())
	if l.s.keeper != nil {
		if kept, ok := l.s.keeper.RetainFrom(); ok && kept < pos {
			return sendStandbyStatus(l.conn, pos, 0, false)
		}
	}
	return sendStandbyStatus(l.conn, pos, pos, false)
}

// sendStandbyStatus writes a Standby Status Update: write and flush as
// given (0: none, which pglogrepl's helper would replace by write), apply
// as flush.
func sendStandbyStatus(conn *pgconn.PgConn, write, flush LSN, replyRequested bool) error {
	var msg [34]byte
	msg[0] = pglogrepl.StandbyStatusUpdateByteID
	binary.BigEndian.PutUint64(msg[1:], uint64(write))
	binary.BigEndian.PutUint64(msg[9:], uint64(flush))
	binary.BigEndian.PutUint64(msg[17:], uint64(flush))
	binary.BigEndian.PutUint64(msg[25:], uint64(time.Since(pgEpoch).Microseconds()))
	if replyRequested {
		msg[33] = 1
	}
	buf, err := (&pgproto3.CopyData{Data: msg[:]}).Encode(nil)
	if err == nil {
		err = conn.Frontend().SendUnbufferedEncodedCopyData(buf)
	}
	if err != nil {
		return fmt.Errorf("send standby status: %w", err)
	}
	return nil
}
