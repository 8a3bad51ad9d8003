package filter

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/walcast/walcast/replication"
)

// colType is how a filter reads a column's text values: which Go form a
// value is parsed into and which operators apply.
type colType uint8

const (
	tUnsupported colType = iota // only is.null: json, arrays, time, interval, ...
	tInt                        // int2, int4, int8, oid
	tFloat4
	tFloat8
	tNumeric
	tBool
	tText   // text, varchar, name: byte order (C collation)
	tBpchar // char(n): trailing spaces do not count in comparisons
	tOpaque // enums, "char" and types without a built-in base: exact text equality only
	tUUID
	tDate
	tTimestamp
	tTimestamptz
	tBytea
)

// Built-in type OIDs the replication codec leaves as CodecText.
const (
	oidChar   = 18 // "char"
	oidName   = 19
	oidBpchar = 1042
)

type typeInfo struct {
	typ     colType
	min     int64  // tInt range
	max     int64  // tInt range
	wrap    bool   // tInt: oid, where negative input wraps around 2^32
	want    string // what a constant must look like, for errors
	ordered bool   // lt, lte, gt, gte apply
	like    bool   // like, ilike, match, imatch apply
}

func typeOf(col *replication.Column) typeInfo {
	c := col.Codec
	if c.Array {
		return typeInfo{typ: tUnsupported}
	}
	switch c.Kind {
	case replication.CodecInt:
		t := typeInfo{typ: tInt, ordered: true, min: -1 << 63, max: 1<<63 - 1}
		switch c.BaseOID {
		case pgtype.Int2OID:
			t.min, t.max = -1<<15, 1<<15-1
		case pgtype.Int4OID:
			t.min, t.max = -1<<31, 1<<31-1
		case pgtype.OIDOID:
			// oidin accepts negative input and wraps it, so -1 is 4294967295.
			t.min, t.max, t.wrap = -1<<31, 1<<32-1, true
		}
		t.want = fmt.Sprintf("an integer between %d and %d", t.min, t.max)
		return t
	case replication.CodecFloat:
		t := typeInfo{typ: tFloat8, ordered: true, want: "a floating-point number (or NaN, Infinity, -Infinity)"}
		if c.BaseOID == pgtype.Float4OID {
			t.typ = tFloat4
		}
		return t
	case replication.CodecNumeric:
		return typeInfo{typ: tNumeric, ordered: true, want: "a decimal number (or NaN, Infinity, -Infinity)"}
	case replication.CodecBool:
		return typeInfo{typ: tBool, ordered: true, want: "a boolean (true, false, t, f, yes, no, on, off, 1, 0)"}
	case replication.CodecBytea:
		return typeInfo{typ: tBytea, ordered: true, want: `bytes in hex (\x0a1b) or escape format`}
	case replication.CodecTimestamp:
		return typeInfo{typ: tTimestamp, ordered: true, want: "a timestamp as YYYY-MM-DD[ HH:MM[:SS[.ffffff]]] (or infinity, -infinity)"}
	case replication.CodecTimestamptz:
		return typeInfo{typ: tTimestamptz, ordered: true, want: "a timestamp as YYYY-MM-DD[ HH:MM[:SS[.ffffff]]][Z|±HH[:MM]] (or infinity, -infinity)"}
	case replication.CodecText:
		switch c.BaseOID {
		case pgtype.TextOID, pgtype.VarcharOID, oidName:
			return typeInfo{typ: tText, ordered: true, like: true, want: "valid UTF-8 text without NUL bytes"}
		case oidBpchar:
			return typeInfo{typ: tBpchar, ordered: true, like: true, want: "valid UTF-8 text without NUL bytes"}
		case pgtype.UUIDOID:
			return typeInfo{typ: tUUID, ordered: true, want: "a UUID such as 123e4567-e89b-12d3-a456-426614174000"}
		case pgtype.DateOID:
			return typeInfo{typ: tDate, ordered: true, want: "a date as YYYY-MM-DD (or infinity, -infinity)"}
		case 0, oidChar:
			return typeInfo{typ: tOpaque, want: "the value exactly as Postgres prints it"}
		}
	}
	return typeInfo{typ: tUnsupported}
}

// checkOp reports why op cannot apply to a column of type t, or nil.
func (t typeInfo) checkOp(c *Condition, col *replication.Column) error {
	name := typeName(col)
	switch c.Op {
	case OpIs:
		if c.Value != "null" && t.typ != tBool {
			return fmt.Errorf("invalid value for is filter: %s needs a boolean column; column %q is %s (use is.null)", c.Value, col.Name, name)
		}
		return nil
	case OpLike, OpIlike, OpMatch, OpImatch:
		if !t.like {
			return fmt.Errorf("operator %s requires a text-compatible column type (text, varchar, char, name); column %q is %s", c.Op, col.Name, name)
		}
		return nil
	}
	switch t.typ {
	case tUnsupported:
		what := "a type walcast cannot compare"
		switch {
		case col.Codec.Array:
			what = "an array"
		case col.Codec.BaseOID == pgtype.JSONOID:
			what = "json, which has no equality operator in Postgres"
		case col.Codec.BaseOID == pgtype.JSONBOID:
			what = "jsonb, whose comparison walcast does not implement"
		}
		return fmt.Errorf("operator %s is not supported on column %q (%s): it is %s; only is.null and not.is.null are", c.Op, col.Name, name, what)
	case tOpaque:
		switch c.Op {
		case OpEq, OpNeq, OpIn, OpIsDistinct:
			return nil
		}
		return fmt.Errorf("operator %s is not supported on column %q (%s): values of this type are compared as exact text, so only eq, neq, in and isdistinct apply", c.Op, col.Name, name)
	}
	return nil
}

func typeName(col *replication.Column) string {
	if col.TypeName != "" {
		return col.TypeName
	}
	return fmt.Sprintf("oid %d", col.TypeOID)
}
