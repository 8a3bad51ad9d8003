package replication

import (
	"context"
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

// The hand-off queue holds at most this many messages and, unless it holds
// a single one, this many bytes.
const (
	handoffMessages = 256
	handoffBytes    = 8 << 20
	// Buffers larger than this are not reused.
	handoffKeepBuffer = 1 << 20
)

// handoff is the bounded queue between reader and worker. Buffers go to the
// worker on work and come back on free; the reader counts what is out.
type handoff struct {
	work  chan []byte
	free  chan []byte
	out   int // messages handed to the worker and not yet returned
	bytes int // their size
	spare [][]byte
}

func newHandoff() *handoff {
	return &handoff{work: make(chan []byte, handoffMessages), free: make(chan []byte, handoffMessages)}
}

func (h *handoff) release(buf []byte) {
	h.out--
	h.bytes -= len(buf)
	if cap(buf) <= handoffKeepBuffer {
		h.spare = append(h.spare, buf[:0])
	}
}

func (h *handoff) full(size int) bool {
	return h.out == handoffMessages || h.out > 0 && h.bytes+size > handoffBytes
}

// errWorkerDone: the worker stopped; its own error says why.
var errWorkerDone = errors.New("worker stopped")

func (l *loop) run(ctx context.Context) error {
	netConn := l.conn.Conn()
	h := newHandoff()
	wctx, stopWorker := context.WithCancel(ctx)
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
	stopWorker()
	werr := <-workerDone
	if errors.Is(err, errWorkerDone) {
		err = werr
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
	netConn := l.conn.Conn()
	l.lastRecv = time.Now()
	l.nextStatus = l.lastRecv
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
			if err := netConn.SetReadDeadline(l.nextStatus); err != nil {
				return fmt.Errorf("set read deadline: %w", err)
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
				continue
			}
			return fmt.Errorf("receive: %w", err)
		}
		l.lastRecv = now
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if err := l.take(ctx, readCtx, h, m.Data); err != nil {
				return err
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("server: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return errors.New("server ended the replication stream")
		}
	}
}

// take answers a keepalive that asks for a reply, and queues data for the
// worker (a copy: data is only valid until the next read). When the queue
// is full it waits, sending status updates meanwhile.
func (l *loop) take(ctx, readCtx context.Context, h *handoff, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if data[0] == pglogrepl.PrimaryKeepaliveMessageByteID && len(data) >= 18 && data[17] == 1 {
		if err := l.sendStatus(ctx, false); err != nil {
			return err
		}
	}
	for waited := false; ; waited = true {
		for drained := false; !drained; {
			select {
			case buf := <-h.free:
				h.release(buf)
			default:
				drained = true
			}
		}
		if !h.full(len(data)) {
			if waited {
				// Time spent waiting for the worker says nothing about
				// the server.
				l.lastRecv = time.Now()
			}
			break
		}
		timer := time.NewTimer(l.waitStatus)
		select {
		case buf := <-h.free:
			h.release(buf)
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
	var buf []byte
	if n := len(h.spare); n > 0 {
		buf, h.spare = h.spare[n-1], h.spare[:n-1]
	}
	buf = append(buf[:0], data...)
	h.out++
	h.bytes += len(buf)
	h.work <- buf // never blocks: fewer than cap(work) are out
	return nil
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

// sendStatus confirms what the worker acknowledged. Write, flush and apply
// are all set explicitly: pglogrepl copies a zero flush position from the
// write one.
func (l *loop) sendStatus(ctx context.Context, replyRequested bool) error {
	pos := LSN(l.acked.Load())
	err := pglogrepl.SendStandbyStatusUpdate(ctx, l.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pos, WALFlushPosition: pos, WALApplyPosition: pos, ReplyRequested: replyRequested,
	})
	if err != nil {
		return fmt.Errorf("send standby status: %w", err)
	}
	return nil
}
