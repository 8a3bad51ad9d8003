package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// loop is the receive loop of one replication connection. Only its goroutine
// touches the connection: a status update written concurrently with a read
// can corrupt it (pgx#557).
type loop struct {
	s       *Stream
	conn    *pgconn.PgConn
	catalog *Catalog
	rels    map[uint32]*Relation

	d       decoded
	change  Change
	inTx    bool
	tx      Commit
	ordinal uint32

	handled    LSN // newest position whose transactions the handler took
	flushed    LSN // handled, and flushed by the handler's Flusher
	nextStatus time.Time
	lastRecv   time.Time
}

func (l *loop) run(ctx context.Context) error {
	netConn := l.conn.Conn()
	// Interrupt a blocked read as soon as ctx is cancelled. Reads otherwise
	// use deadlines on the socket, not a context per call: pgconn arms a
	// context watcher per ReceiveMessage, which allocates on every message.
	stop := context.AfterFunc(ctx, func() { _ = netConn.SetReadDeadline(time.Now()) })
	defer stop()

	l.handled, l.flushed = l.s.ackable, l.s.ackable
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
		if ctx.Err() != nil {
			return l.finish(ctx)
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
			if err := l.handleCopyData(ctx, m.Data); err != nil {
				if errors.Is(err, ErrStop) {
					if ferr := l.finish(ctx); ferr != nil {
						return ferr
					}
				}
				return err
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("server: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return errors.New("server ended the replication stream")
		}
	}
}

// finish flushes the handler and acknowledges what it took, so a later run
// starts after it. It is used on the way out, with ctx possibly cancelled.
func (l *loop) finish(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	_ = l.conn.Conn().SetReadDeadline(time.Time{})
	return l.sendStatus(ctx, false)
}

func (l *loop) handleCopyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		if len(data) < 18 {
			return fmt.Errorf("keepalive message of %d bytes", len(data))
		}
		walEnd := LSN(binary.BigEndian.Uint64(data[1:9]))
		// The server has sent everything before walEnd and we have handled
		// all of it: outside a transaction the position is safe to confirm.
		// This is what moves the slot while published tables are quiet.
		if !l.inTx && walEnd > l.handled {
			l.handled = walEnd
		}
		// The server sends a keepalive when it has caught up: a good moment
		// to let a buffering handler write out.
		if err := l.flush(ctx); err != nil {
			return err
		}
		if data[17] == 1 {
			return l.sendStatus(ctx, false)
		}
		return nil
	case pglogrepl.XLogDataByteID:
		if len(data) < 25 {
			return fmt.Errorf("XLogData message of %d bytes", len(data))
		}
		if err := decode(data[25:], &l.d); err != nil {
			return err
		}
		return l.dispatch(ctx)
	}
	return nil
}

func (l *loop) dispatch(ctx context.Context) error {
	d := &l.d
	switch d.kind {
	case msgBegin:
		l.inTx = true
		l.ordinal = 0
		l.tx = Commit{LSN: d.commitLSN, Time: d.time, Xid: d.xid}
	case msgCommit:
		l.inTx = false
		l.tx.EndLSN = d.endLSN
		if l.tx.Changes > 0 {
			if err := l.s.h.HandleCommit(ctx, l.tx); err != nil {
				return &handlerError{err}
			}
		}
		l.handled = d.endLSN
		l.s.ackable = max(l.s.ackable, l.flushedOrHandledIfNoFlusher())
	case msgRelation:
		rel, err := l.catalog.complete(ctx, &d.rel)
		if err != nil {
			return err
		}
		l.rels[rel.ID] = rel
		if l.s.relH != nil {
			if err := l.s.relH.HandleRelation(ctx, rel); err != nil {
				return &handlerError{err}
			}
		}
	case msgChange:
		rel := l.rels[d.relID]
		if rel == nil {
			return fmt.Errorf("change for relation %d before its Relation message", d.relID)
		}
		return l.deliver(ctx, rel, d.change)
	case msgTruncate:
		for _, id := range d.relIDs {
			rel := l.rels[id]
			if rel == nil {
				return fmt.Errorf("truncate of relation %d before its Relation message", id)
			}
			if err := l.deliver(ctx, rel, Truncate); err != nil {
				return err
			}
		}
	case msgLogical:
		return l.deliverMessage(ctx)
	}
	return nil
}

// next assigns the next cursor of the transaction and reports whether it was
// handed to the handler before (a redelivery after reconnecting, or a resume
// point given by the user).
func (l *loop) next() (Cursor, bool) {
	l.ordinal++
	c := Cursor{LSN: l.tx.LSN, Ordinal: l.ordinal}
	return c, !l.s.last.Less(c)
}

func (l *loop) deliver(ctx context.Context, rel *Relation, kind Kind) error {
	cur, seen := l.next()
	if seen {
		return nil
	}
	ch := &l.change
	*ch = Change{Relation: rel, Kind: kind, CommitTime: l.tx.Time, Cursor: cur, Xid: l.tx.Xid}
	if kind != Truncate {
		d := &l.d
		ch.New = d.newRow
		if d.hasOld {
			ch.Old, ch.OldKeyOnly = d.oldRow, d.oldKeyOnly
		}
		if len(ch.New) != len(rel.Columns) && kind != Delete || ch.Old != nil && len(ch.Old) != len(rel.Columns) {
			return fmt.Errorf("%s on %s.%s: tuple has %d columns, relation %d", kind, rel.Schema, rel.Table, len(ch.New), len(rel.Columns))
		}
		if kind == Update && ch.Old != nil && !ch.OldKeyOnly {
			fillUnchangedToast(ch.New, ch.Old)
		}
	}
	if err := l.s.h.HandleChange(ctx, ch); err != nil {
		if errors.Is(err, ErrStop) {
			l.s.last = cur
			return err
		}
		return &handlerError{err}
	}
	l.s.last = cur
	l.tx.Changes++
	return nil
}

// fillUnchangedToast replaces unchanged out-of-line values of the new row
// with the old row's, which a REPLICA IDENTITY FULL old tuple carries.
func fillUnchangedToast(newRow, oldRow []Value) {
	for i := range newRow {
		if newRow[i].State == ValueUnchanged && oldRow[i].State == ValueText {
			newRow[i] = oldRow[i]
		}
	}
}

func (l *loop) deliverMessage(ctx context.Context) error {
	msg := &l.d.msg
	if msg.Transactional && l.inTx {
		cur, seen := l.next()
		if seen {
			return nil
		}
		msg.Cursor = cur
	} else {
		msg.Cursor = Cursor{LSN: msg.LSN}
	}
	if l.s.msgH == nil {
		return nil
	}
	if err := l.s.msgH.HandleMessage(ctx, msg); err != nil {
		if errors.Is(err, ErrStop) {
			return err
		}
		return &handlerError{err}
	}
	if msg.Transactional && l.inTx {
		l.s.last = msg.Cursor
		l.tx.Changes++
	}
	return nil
}

// flush lets a buffering handler write out, then marks what it had taken as
// safe to acknowledge.
func (l *loop) flush(ctx context.Context) error {
	if l.s.flusher != nil && l.flushed < l.handled {
		if err := l.s.flusher.Flush(ctx); err != nil {
			return &handlerError{err}
		}
	}
	l.flushed = l.handled
	l.s.ackable = max(l.s.ackable, l.flushed)
	return nil
}

func (l *loop) flushedOrHandledIfNoFlusher() LSN {
	if l.s.flusher == nil {
		l.flushed = l.handled
	}
	return l.flushed
}

// sendStatus confirms the flushed position. Write, flush and apply are all
// set explicitly: pglogrepl copies a zero flush position from the write one.
func (l *loop) sendStatus(ctx context.Context, replyRequested bool) error {
	if err := l.flush(ctx); err != nil {
		return err
	}
	pos := l.s.ackable
	if l.s.keeper != nil {
		if kept, ok := l.s.keeper.RetainFrom(); ok && kept < pos {
			pos = kept
		}
	}
	err := pglogrepl.SendStandbyStatusUpdate(ctx, l.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pos, WALFlushPosition: pos, WALApplyPosition: pos, ReplyRequested: replyRequested,
	})
	if err != nil {
		return fmt.Errorf("send standby status: %w", err)
	}
	return nil
}
