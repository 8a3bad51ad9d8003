package replication

import "github.com/jackc/pgx/v5/pgtype"

// CodecKind says how a column's text values are rendered to JSON and compared.
type CodecKind uint8

const (
	// CodecText renders the text form as a JSON string: text, varchar, char,
	// name, uuid, date, time, timetz, interval, inet, cidr, money, ranges,
	// enums, composites and every type walcast has no fast path for.
	CodecText        CodecKind = iota
	CodecInt                   // int2, int4, int8, oid: a JSON number, copied verbatim
	CodecFloat                 // float4, float8: a JSON number; NaN and ±Infinity as strings
	CodecNumeric               // numeric: a JSON number with every digit; NaN and ±Infinity as strings
	CodecBool                  // bool: t/f to true/false
	CodecJSON                  // json, jsonb: copied verbatim
	CodecBytea                 // bytea: lower-case hex string without the \x prefix
	CodecTimestamp             // timestamp: "YYYY-MM-DDTHH:MM:SS[.ffffff]"
	CodecTimestamptz           // timestamptz: "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (the stream runs with TimeZone=UTC)
)

// Codec is chosen once per column from the column's base type: domains are
// resolved to the type they are over, and arrays to their element type with
// Array set.
type Codec struct {
	Kind    CodecKind
	Array   bool   // the column is an array (of any dimension) of Kind elements
	Delim   byte   // array element delimiter (',' for every type but box)
	BaseOID uint32 // the built-in base type (the element's, for arrays); 0 when not built in
}

// CodecFor returns the codec for a built-in base type OID. Pass the element's
// base OID and array=true for array columns. Types without a fast path
// (including enums, ranges and composites, for which callers pass 0) get
// CodecText.
func CodecFor(baseOID uint32, array bool) Codec {
	c := Codec{Kind: CodecText, Array: array, Delim: ',', BaseOID: baseOID}
	switch baseOID {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		c.Kind = CodecInt
	case pgtype.Float4OID, pgtype.Float8OID:
		c.Kind = CodecFloat
	case pgtype.NumericOID:
		c.Kind = CodecNumeric
	case pgtype.BoolOID:
		c.Kind = CodecBool
	case pgtype.JSONOID, pgtype.JSONBOID:
		c.Kind = CodecJSON
	case pgtype.ByteaOID:
		c.Kind = CodecBytea
	case pgtype.TimestampOID:
		c.Kind = CodecTimestamp
	case pgtype.TimestamptzOID:
		c.Kind = CodecTimestamptz
	case pgtype.BoxOID:
		c.Delim = ';'
	}
	return c
}
