package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// errShort is returned for a message that ends before its declared content.
var errShort = errors.New("message truncated")

// pgEpoch is the zero point of pgoutput timestamps (microseconds since then).
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func pgTime(us int64) time.Time { return pgEpoch.Add(time.Duration(us) * time.Microsecond) }

// reader walks a pgoutput message. Every read checks bounds, so a malformed
// message yields an error, never a panic (pglogrepl's TupleData.Decode does
// no bounds checks).
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errShort
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// cstring returns a NUL-terminated string, aliasing the buffer.
func (r *reader) cstring() []byte {
	for i, c := range r.b {
		if c == 0 {
			s := r.b[:i]
			r.b = r.b[i+1:]
			return s
		}
	}
	r.fail()
	return nil
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// tuple reads TupleData into dst (reused), aliasing value bytes.
func (r *reader) tuple(dst []Value) []Value {
	n := int(r.u16())
	if r.err != nil {
		return dst[:0]
	}
	if cap(dst) < n {
		dst = make([]Value, n)
	}
	dst = dst[:n]
	for i := 0; i < n; i++ {
		switch kind := r.byte(); kind {
		case 'n', 'u':
			dst[i] = Value{State: kind}
		case 't', 'b':
			l := int(int32(r.u32()))
			dst[i] = Value{State: ValueText, Data: r.bytes(l)}
		default:
			if r.err == nil {
				r.err = fmt.Errorf("unknown tuple column kind %q", kind)
			}
			return dst[:0]
		}
		if r.err != nil {
			return dst[:0]
		}
	}
	return dst
}

// Message kinds of the pgoutput protocol that the decoder reports.
type msgKind uint8

const (
	msgOther msgKind = iota
	msgBegin
	msgCommit
	msgRelation
	msgChange
	msgTruncate
	msgLogical
)

// rawRelation is a Relation message before catalog facts are added.
type rawRelation struct {
	ID       uint32
	Schema   string
	Table    string
	Identity byte
	Columns  []rawColumn
}

type rawColumn struct {
	Name     string
	TypeOID  uint32
	Modifier int32
	Identity bool // part of the replica identity (flags bit 1)
}

// LogicalMessage is a pg_logical_emit_message record. Content is valid only
// during the handler call.
type LogicalMessage struct {
	Transactional bool
	LSN           LSN
	Prefix        string
	Content       []byte
	Cursor        Cursor
}

// decoded is what one pgoutput message decodes to. Slices alias the input.
type decoded struct {
	kind msgKind

	// Begin / Commit
	commitLSN LSN
	endLSN    LSN
	time      time.Time
	xid       uint32 // Begin only

	// Relation
	rel rawRelation

	// Insert / Update / Delete
	change     Kind
	relID      uint32
	newRow     []Value
	oldRow     []Value
	hasOld     bool
	oldKeyOnly bool

	// Truncate
	relIDs []uint32

	// Message
	msg LogicalMessage
}

// decode parses one pgoutput message (protocol 1 or 2, not streamed) into d,
// reusing d's row buffers.
func decode(data []byte, d *decoded) error {
	r := reader{b: data}
	tag := r.byte()
	d.kind = msgOther
	switch tag {
	case 'B':
		d.kind = msgBegin
		d.commitLSN = LSN(r.u64())
		d.time = pgTime(int64(r.u64()))
		d.xid = r.u32()
	case 'C':
		d.kind = msgCommit
		r.byte() // flags
		d.commitLSN = LSN(r.u64())
		d.endLSN = LSN(r.u64())
		d.time = pgTime(int64(r.u64()))
	case 'R':
		d.kind = msgRelation
		d.rel = rawRelation{ID: r.u32()}
		d.rel.Schema = string(r.cstring())
		d.rel.Table = string(r.cstring())
		d.rel.Identity = r.byte()
		n := int(r.u16())
		if r.err == nil && n > len(r.b) {
			r.fail() // each column needs at least a byte: reject absurd counts before allocating
		}
		if r.err == nil {
			d.rel.Columns = make([]rawColumn, n)
			for i := range d.rel.Columns {
				flags := r.byte()
				d.rel.Columns[i] = rawColumn{Identity: flags&1 != 0, Name: string(r.cstring()), TypeOID: r.u32(), Modifier: int32(r.u32())}
			}
		}
	case 'I':
		d.kind, d.change = msgChange, Insert
		d.relID = r.u32()
		if t := r.byte(); t != 'N' && r.err == nil {
			return fmt.Errorf("insert: unexpected tuple tag %q", t)
		}
		d.newRow = r.tuple(d.newRow)
		d.hasOld, d.oldKeyOnly = false, false
	case 'U':
		d.kind, d.change = msgChange, Update
		d.relID = r.u32()
		d.hasOld, d.oldKeyOnly = false, false
		t := r.byte()
		if t == 'K' || t == 'O' {
			d.hasOld, d.oldKeyOnly = true, t == 'K'
			d.oldRow = r.tuple(d.oldRow)
			t = r.byte()
		}
		if t != 'N' && r.err == nil {
			return fmt.Errorf("update: unexpected tuple tag %q", t)
		}
		d.newRow = r.tuple(d.newRow)
	case 'D':
		d.kind, d.change = msgChange, Delete
		d.relID = r.u32()
		t := r.byte()
		if t != 'K' && t != 'O' && r.err == nil {
			return fmt.Errorf("delete: unexpected tuple tag %q", t)
		}
		d.hasOld, d.oldKeyOnly = true, t == 'K'
		d.oldRow = r.tuple(d.oldRow)
		d.newRow = d.newRow[:0]
	case 'T':
		d.kind = msgTruncate
		n := int(r.u32())
		r.byte() // options: cascade, restart identity
		if r.err == nil && n > len(r.b)/4 {
			r.fail()
		}
		d.relIDs = d.relIDs[:0]
		for i := 0; i < n && r.err == nil; i++ {
			d.relIDs = append(d.relIDs, r.u32())
		}
	case 'M':
		d.kind = msgLogical
		d.msg.Transactional = r.byte()&1 != 0
		d.msg.LSN = LSN(r.u64())
		d.msg.Prefix = string(r.cstring())
		d.msg.Content = r.bytes(int(int32(r.u32())))
	case 'Y', 'O':
		// Type messages: the catalog lookup done for each Relation resolves
		// types itself. Origin messages: nothing to do.
	case 0:
		if r.err != nil {
			return fmt.Errorf("decode pgoutput: %w", r.err)
		}
		return nil
	default:
		return fmt.Errorf("decode pgoutput: unsupported message type %q (walcast reads protocol 1-2 without streaming)", tag)
	}
	if r.err != nil {
		return fmt.Errorf("decode pgoutput %q message: %w", tag, r.err)
	}
	return nil
}
