package replication

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
)

// LSN is a position in the write-ahead log.
type LSN = pglogrepl.LSN

// Kind is the type of a row change.
type Kind uint8

const (
	Insert Kind = iota + 1
	Update
	Delete
	Truncate
)

// String returns the SQL verb, as used in the "type" field of events.
func (k Kind) String() string {
	switch k {
	case Insert:
		return "INSERT"
	case Update:
		return "UPDATE"
	case Delete:
		return "DELETE"
	case Truncate:
		return "TRUNCATE"
	}
	return "UNKNOWN"
}

// ParseKind parses "INSERT", "UPDATE", "DELETE" or "TRUNCATE" (any case).
func ParseKind(s string) (Kind, bool) {
	for k := Insert; k <= Truncate; k++ {
		if equalFoldASCII(s, k.String()) {
			return k, true
		}
	}
	return 0, false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Cursor identifies a change: the end LSN of its transaction's commit record
// and the change's 1-based ordinal inside that transaction. Cursors sort in
// delivery (commit) order, and a redelivered transaction repeats its cursors,
// so clients can deduplicate.
type Cursor struct {
	LSN     LSN
	Ordinal uint32
}

// cursorLen is the length of a formatted cursor: 16 hex digits, '-', 8 digits.
const cursorLen = 16 + 1 + 8

// AppendText appends the fixed-width, lexically sortable form of c
// ("0000000001A2B3C8-00000001") to dst.
func (c Cursor) AppendText(dst []byte) []byte {
	const hex = "0123456789ABCDEF"
	v := uint64(c.LSN)
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, hex[(v>>uint(i))&0xF])
	}
	dst = append(dst, '-')
	o := c.Ordinal
	var buf [8]byte
	for i := 7; i >= 0; i-- {
		buf[i] = byte('0' + o%10)
		o /= 10
	}
	return append(dst, buf[:]...)
}

func (c Cursor) String() string { return string(c.AppendText(make([]byte, 0, cursorLen))) }

// Less reports whether c was delivered before d.
func (c Cursor) Less(d Cursor) bool {
	return c.LSN < d.LSN || (c.LSN == d.LSN && c.Ordinal < d.Ordinal)
}

// ParseCursor parses the form produced by Cursor.String.
func ParseCursor(s string) (Cursor, error) {
	if len(s) != cursorLen || s[16] != '-' {
		return Cursor{}, fmt.Errorf("parse cursor %q: want 16 hex digits, '-', 8 digits", s)
	}
	lsn, err := strconv.ParseUint(s[:16], 16, 64)
	if err != nil {
		return Cursor{}, fmt.Errorf("parse cursor %q: %w", s, err)
	}
	ord, err := strconv.ParseUint(s[17:], 10, 32)
	if err != nil {
		return Cursor{}, fmt.Errorf("parse cursor %q: %w", s, err)
	}
	return Cursor{LSN: LSN(lsn), Ordinal: uint32(ord)}, nil
}

// Column describes one column of a published relation.
type Column struct {
	Name     string
	TypeOID  uint32 // the column's declared type (a domain's own OID for domain columns)
	TypeName string // pg_type.typname of TypeOID, e.g. "int4", "_text", "mood"
	Modifier int32  // atttypmod
	Key      bool   // part of the primary key (or of the replica identity when there is no primary key)
	Codec    Codec  // how values of this column are rendered to JSON and compared
}

// Relation is a published table as announced by a pgoutput Relation message,
// completed with catalog facts (type names, primary key, codecs).
type Relation struct {
	ID              uint32
	Schema          string
	Table           string
	ReplicaIdentity byte // 'd' default, 'f' full, 'i' index, 'n' nothing
	Columns         []Column
}

// ColumnIndex returns the position of the named column, or -1.
func (r *Relation) ColumnIndex(name string) int {
	for i := range r.Columns {
		if r.Columns[i].Name == name {
			return i
		}
	}
	return -1
}

// Value states of a tuple column, as pgoutput sends them.
const (
	ValueNull      = 'n' // SQL NULL (in a key-only old tuple: not part of the key, see Change.OldKeyOnly)
	ValueText      = 't' // Data holds the type's text output
	ValueUnchanged = 'u' // an unchanged TOASTed value that was not sent
	ValueAbsent    = 0   // no tuple / column not present
)

// Value is one column of a tuple.
type Value struct {
	State byte
	Data  []byte
}

// IsNull reports whether v is a SQL NULL.
func (v Value) IsNull() bool { return v.State == ValueNull }

// Change is one row change inside a committed transaction. A TRUNCATE of
// several tables becomes one Change per table, with no rows.
//
// A Change and the byte slices it references are valid only during the
// Handler call that receives it: the decoder reuses its buffers for the next
// message. A handler that keeps anything must copy it; encoding to JSON
// (AppendChange) produces bytes the caller owns.
type Change struct {
	Relation   *Relation
	Kind       Kind
	CommitTime time.Time
	Cursor     Cursor

	// New is the new row for Insert and Update, one Value per Relation column.
	New []Value
	// Old is the old row for Update (when the replica identity sent one) and
	// Delete; nil otherwise.
	Old []Value
	// OldKeyOnly is true when Old holds only the replica identity key: its
	// other columns are absent, not NULL.
	OldKeyOnly bool
	// Xid is the id of the change's transaction (see Commit.Xid).
	Xid uint32
}
