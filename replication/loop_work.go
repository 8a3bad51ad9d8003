package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pglogrepl"
)

// This file is the loop's worker side: decoding and handing changes to the
// handler, on the goroutine of work. The reader (loop.go) owns the
// connection; the two share only the hand-off channels and acked.

// work handles the batches the reader hands off, in order, returning each
// once done with it, until ctx is done, handling fails, or the reader
// closes the queue (then it returns nil once it has handled everything).
func (l *loop) work(ctx context.Context, h *handoff) error {
	for {
		var b *batch
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b = <-h.work:
		}
		if b == nil {
			return nil // closed: the reader is done
		}
		var err error
		for start, i := 0, 0; i < len(b.ends) && err == nil; i++ {
			err = l.handleCopyData(ctx, b.buf[start:b.ends[i]])
			start = b.ends[i]
		}
		h.free <- b
		if err != nil {
			return err
		}
	}
}

// setAckable records that everything up to pos was handled (and flushed),
// for the reader's next standby status update.
func (l *loop) setAckable(pos LSN) {
	if pos > l.s.ackable {
		l.s.ackable = pos
		l.acked.Store(uint64(pos))
	}
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
		// to let a buffering handler write out. The reader answered it
		// already, if asked to, with what was acknowledged then.
		return l.flush(ctx)
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
			l.s.committed(l.tx)
		}
		l.handled = d.endLSN
		l.setAckable(l.flushedOrHandledIfNoFlusher())
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
	l.s.stats.changes.Add(1)
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
	l.setAckable(l.flushed)
	return nil
}

func (l *loop) flushedOrHandledIfNoFlusher() LSN {
	if l.s.flusher == nil {
		l.flushed = l.handled
	}
	return l.flushed
}
