package replication

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// BenchmarkAppendValue measures one value per op with a reused buffer; the
// inputs are those of the per-type table in the pgoutput notes.
func BenchmarkAppendValue(b *testing.B) {
	for _, bc := range []struct {
		name string
		c    Codec
		opt  EncodeOptions
		in   string
	}{
		{"int4", encInt4, EncodeOptions{}, "123456"},
		{"int8", encInt8, EncodeOptions{}, "9007199254740993"},
		{"int8_as_string", encInt8, optInt8Str, "9007199254740993"},
		{"numeric", encNumeric, EncodeOptions{}, "12345678901234567890.12"},
		{"float8", encFloat8, EncodeOptions{}, "3.141592653589793"},
		{"bool", encBool, EncodeOptions{}, "t"},
		{"text_27", encText, EncodeOptions{}, "item number 1234567 (blue)."},
		{"text_unicode_27", encText, EncodeOptions{}, "héllo wörld ✓ 日本語 😀"},
		{"text_1k", encText, EncodeOptions{}, string(make1kText())},
		{"uuid", CodecFor(pgtype.UUIDOID, false), EncodeOptions{}, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"timestamptz", encTimestamptz, EncodeOptions{}, "2024-05-06 01:38:09.123456+00"},
		{"jsonb_55", encJSONB, EncodeOptions{}, `{"color": "blue", "size": 10, "tags": ["x", "y"], "n": 1}`},
		{"bytea_4", encBytea, EncodeOptions{}, `\xdeadbeef`},
		{"text_array", CodecFor(pgtype.TextOID, true), EncodeOptions{}, `{a,b3,"with space"}`},
		{"int4_array", CodecFor(pgtype.Int4OID, true), EncodeOptions{}, "{1,2,3,4,5}"},
		{"json_array", CodecFor(pgtype.JSONOID, true), EncodeOptions{}, `{"{\"a\": 1}","{\"b\": [2, 3]}"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(bc.in)
			buf := AppendValue(nil, bc.c, in, bc.opt)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendValue(buf[:0], bc.c, in, bc.opt)
			}
		})
	}
}

func make1kText() []byte {
	s := make([]byte, 0, 1024)
	for len(s) < 1024 {
		s = append(s, "The quick brown fox jumps over the lazy dog. "...)
	}
	return s[:1024]
}

// BenchmarkAppendChange encodes the 9-column items row (bigint id, uuid,
// text, int4, numeric(12,2), text[], jsonb, bool, timestamptz) as a whole
// change payload: ns/op is ns per row.
func BenchmarkAppendChange(b *testing.B) {
	for _, bc := range []struct {
		name string
		ch   Change
	}{
		{"insert", Change{Relation: encItems, Kind: Insert, New: encItemsRow()}},
		{"update", Change{Relation: encItems, Kind: Update, New: encItemsRow()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ch := bc.ch
			ch.CommitTime, ch.Cursor = encCommitTime, encCursor
			buf := AppendChange(nil, &ch, EncodeOptions{})
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendChange(buf[:0], &ch, EncodeOptions{})
			}
			b.ReportMetric(float64(len(buf)), "B/row")
		})
	}
}

// BenchmarkAppendRecord is the row object alone, comparable with the
// whole-row line of the pgoutput notes.
func BenchmarkAppendRecord(b *testing.B) {
	row := encItemsRow()
	buf := AppendRecord(nil, encItems, row, EncodeOptions{})
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRecord(buf[:0], encItems, row, EncodeOptions{})
	}
}
