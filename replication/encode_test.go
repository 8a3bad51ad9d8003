package replication

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// encodeCase is one Postgres text value and its expected JSON.
type encodeCase struct {
	name string
	c    Codec
	opt  EncodeOptions
	in   string
	want string
}

func runEncodeCases(t *testing.T, cases []encodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte(`[0,`)
			got := AppendValue(append([]byte(nil), prefix...), tc.c, []byte(tc.in), tc.opt)
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("prefix overwritten: %q", got)
			}
			got = got[len(prefix):]
			if string(got) != tc.want {
				t.Errorf("AppendValue(%q)\n got %s\nwant %s", tc.in, got, tc.want)
			}
			if !json.Valid(got) || !utf8.Valid(got) {
				t.Errorf("AppendValue(%q) = %s: not valid JSON in UTF-8", tc.in, got)
			}
		})
	}
}

var (
	encInt2        = CodecFor(pgtype.Int2OID, false)
	encInt4        = CodecFor(pgtype.Int4OID, false)
	encInt8        = CodecFor(pgtype.Int8OID, false)
	encOID         = CodecFor(pgtype.OIDOID, false)
	encFloat4      = CodecFor(pgtype.Float4OID, false)
	encFloat8      = CodecFor(pgtype.Float8OID, false)
	encNumeric     = CodecFor(pgtype.NumericOID, false)
	encBool        = CodecFor(pgtype.BoolOID, false)
	encText        = CodecFor(pgtype.TextOID, false)
	encJSON        = CodecFor(pgtype.JSONOID, false)
	encJSONB       = CodecFor(pgtype.JSONBOID, false)
	encBytea       = CodecFor(pgtype.ByteaOID, false)
	encTimestamp   = CodecFor(pgtype.TimestampOID, false)
	encTimestamptz = CodecFor(pgtype.TimestamptzOID, false)
	encUnknown     = CodecFor(0, false) // enums, composites, extension types
	optInt8Str     = EncodeOptions{Int8AsString: true}
	optNumericStr  = EncodeOptions{NumericAsString: true}
)

func TestAppendValueNumbers(t *testing.T) {
	long := "1234567890123456789012345678901234567890.0123456789012345678901234567890"
	runEncodeCases(t, []encodeCase{
		{"int2", encInt2, EncodeOptions{}, "-32768", "-32768"},
		{"int4", encInt4, EncodeOptions{}, "123456", "123456"},
		{"int4 zero", encInt4, EncodeOptions{}, "0", "0"},
		{"int8", encInt8, EncodeOptions{}, "9007199254740993", "9007199254740993"},
		{"int8 min", encInt8, EncodeOptions{}, "-9223372036854775808", "-9223372036854775808"},
		{"int8 as string", encInt8, optInt8Str, "9007199254740993", `"9007199254740993"`},
		{"int4 not affected by Int8AsString", encInt4, optInt8Str, "42", "42"},
		{"oid", encOID, EncodeOptions{}, "4294967295", "4294967295"},
		{"domain over int4 uses the base codec", CodecFor(pgtype.Int4OID, false), EncodeOptions{}, "42", "42"},
		{"int garbage", encInt4, EncodeOptions{}, "12abc", `"12abc"`},
		{"int leading zero", encInt4, EncodeOptions{}, "01", `"01"`},
		{"int empty", encInt4, EncodeOptions{}, "", `""`},
		{"int8 garbage as string", encInt8, optInt8Str, `1"2`, `"1\"2"`},

		{"float4", encFloat4, EncodeOptions{}, "1.5", "1.5"},
		{"float4 exponent", encFloat4, EncodeOptions{}, "1e+20", "1e+20"},
		{"float4 small", encFloat4, EncodeOptions{}, "1.5e-07", "1.5e-07"},
		{"float8 negative zero", encFloat8, EncodeOptions{}, "-0", "-0"},
		{"float8 pi", encFloat8, EncodeOptions{}, "3.141592653589793", "3.141592653589793"},
		{"float8 max", encFloat8, EncodeOptions{}, "1.7976931348623157e+308", "1.7976931348623157e+308"},
		{"float8 denormal", encFloat8, EncodeOptions{}, "5e-324", "5e-324"},
		{"float8 NaN", encFloat8, EncodeOptions{}, "NaN", `"NaN"`},
		{"float8 Infinity", encFloat8, EncodeOptions{}, "Infinity", `"Infinity"`},
		{"float8 -Infinity", encFloat8, EncodeOptions{}, "-Infinity", `"-Infinity"`},
		{"float without digits after point", encFloat8, EncodeOptions{}, "1.", `"1."`},
		{"float bare exponent", encFloat8, EncodeOptions{}, "1e", `"1e"`},

		{"numeric", encNumeric, EncodeOptions{}, "12345678901234567890.12", "12345678901234567890.12"},
		{"numeric 70 digits", encNumeric, EncodeOptions{}, long, long},
		{"numeric scale kept", encNumeric, EncodeOptions{}, "12.50", "12.50"},
		{"numeric negative fraction", encNumeric, EncodeOptions{}, "-0.5", "-0.5"},
		{"numeric zero with scale", encNumeric, EncodeOptions{}, "0.00", "0.00"},
		{"numeric NaN", encNumeric, EncodeOptions{}, "NaN", `"NaN"`},
		{"numeric Infinity", encNumeric, EncodeOptions{}, "Infinity", `"Infinity"`},
		{"numeric -Infinity", encNumeric, EncodeOptions{}, "-Infinity", `"-Infinity"`},
		{"numeric as string", encNumeric, optNumericStr, "12.50", `"12.50"`},
		{"numeric as string NaN", encNumeric, optNumericStr, "NaN", `"NaN"`},
		{"numeric as string leaves int8 alone", encInt8, optNumericStr, "7", "7"},
	})
}

func TestAppendValueScalars(t *testing.T) {
	runEncodeCases(t, []encodeCase{
		{"bool true", encBool, EncodeOptions{}, "t", "true"},
		{"bool false", encBool, EncodeOptions{}, "f", "false"},
		{"bool garbage", encBool, EncodeOptions{}, "true", `"true"`},

		{"json object verbatim", encJSON, EncodeOptions{}, `{"id": 12345678901234567890, "b":1, "a":2}`, `{"id": 12345678901234567890, "b":1, "a":2}`},
		{"json whitespace and duplicate keys", encJSON, EncodeOptions{}, "{ \"a\" : 1 ,\t\"a\" : [ 2 , {} , [] ] }", "{ \"a\" : 1 ,\t\"a\" : [ 2 , {} , [] ] }"},
		{"json line breaks become spaces", encJSON, EncodeOptions{}, "{\r\n  \"a\": [\n    1\n  ]\n}", "{    \"a\": [     1   ] }"},
		{"json surrounding whitespace trimmed", encJSON, EncodeOptions{}, "\n [1, 2] \r\n", "[1, 2]"},
		{"json string", encJSON, EncodeOptions{}, `"a\u00e9\n"`, `"a\u00e9\n"`},
		{"json number", encJSON, EncodeOptions{}, "-1.5e+300", "-1.5e+300"},
		{"json null", encJSON, EncodeOptions{}, "null", "null"},
		{"json unicode", encJSON, EncodeOptions{}, `{"k":"héllo ✓ 😀"}`, `{"k":"héllo ✓ 😀"}`},
		{"jsonb", encJSONB, EncodeOptions{}, `{"a": 2, "b": [true, false, null], "c": {"d": "e\"f"}}`, `{"a": 2, "b": [true, false, null], "c": {"d": "e\"f"}}`},
		{"json truncated", encJSON, EncodeOptions{}, `{"a":`, `"{\"a\":"`},
		{"json two values", encJSON, EncodeOptions{}, `1 2`, `"1 2"`},
		{"json invalid UTF-8", encJSON, EncodeOptions{}, "\"a\xffb\"", `"\"a\ufffdb\""`},
		{"json raw newline in string", encJSON, EncodeOptions{}, "\"a\nb\"", `"\"a\nb\""`},

		{"bytea", encBytea, EncodeOptions{}, `\xdeadbeef`, `"deadbeef"`},
		{"bytea empty", encBytea, EncodeOptions{}, `\x`, `""`},
		{"bytea escape format", encBytea, EncodeOptions{}, `abc\000d`, `"abc\\000d"`},
		{"bytea bad hex", encBytea, EncodeOptions{}, `\xzz"`, `"\\xzz\""`},

		{"uuid", CodecFor(pgtype.UUIDOID, false), EncodeOptions{}, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
		{"date", CodecFor(pgtype.DateOID, false), EncodeOptions{}, "2024-05-06", `"2024-05-06"`},
		{"date infinity", CodecFor(pgtype.DateOID, false), EncodeOptions{}, "infinity", `"infinity"`},
		{"date BC", CodecFor(pgtype.DateOID, false), EncodeOptions{}, "0044-03-15 BC", `"0044-03-15 BC"`},
		{"time", CodecFor(pgtype.TimeOID, false), EncodeOptions{}, "01:38:09.5", `"01:38:09.5"`},
		{"timetz", CodecFor(pgtype.TimetzOID, false), EncodeOptions{}, "01:38:09.5+05:30", `"01:38:09.5+05:30"`},
		{"interval", CodecFor(pgtype.IntervalOID, false), EncodeOptions{}, "1 day 02:03:04", `"1 day 02:03:04"`},
		{"interval mixed", CodecFor(pgtype.IntervalOID, false), EncodeOptions{}, "-1 years -2 mons +3 days -04:05:06.5", `"-1 years -2 mons +3 days -04:05:06.5"`},
		{"enum", encUnknown, EncodeOptions{}, "happy", `"happy"`},
		{"domain over text", encText, EncodeOptions{}, "a@b.c", `"a@b.c"`},
		{"int4range", encUnknown, EncodeOptions{}, "[1,5)", `"[1,5)"`},
		{"tstzrange", encUnknown, EncodeOptions{}, `["2024-05-06 01:38:09+00","2024-05-07 00:00:00+00")`, `"[\"2024-05-06 01:38:09+00\",\"2024-05-07 00:00:00+00\")"`},
		{"empty range", encUnknown, EncodeOptions{}, "empty", `"empty"`},
		{"inet", CodecFor(pgtype.InetOID, false), EncodeOptions{}, "192.168.0.1/24", `"192.168.0.1/24"`},
		{"inet v6", CodecFor(pgtype.InetOID, false), EncodeOptions{}, "::1", `"::1"`},
		{"cidr", CodecFor(pgtype.CIDROID, false), EncodeOptions{}, "10.0.0.0/8", `"10.0.0.0/8"`},
		{"money", encUnknown, EncodeOptions{}, "-$1,234.56", `"-$1,234.56"`},
		{"point", CodecFor(pgtype.PointOID, false), EncodeOptions{}, "(1,2)", `"(1,2)"`},
		{"composite", encUnknown, EncodeOptions{}, `(1,"a b",)`, `"(1,\"a b\",)"`},
		{"xml", CodecFor(pgtype.XMLOID, false), EncodeOptions{}, `<a href="x">&amp;</a>`, `"<a href=\"x\">&amp;</a>"`},
		{"unknown kind", Codec{Kind: 200}, EncodeOptions{}, "x", `"x"`},
	})
}

func TestAppendValueText(t *testing.T) {
	long := strings.Repeat("abcdefgh", 5) + `"` + strings.Repeat("z", 13)
	runEncodeCases(t, []encodeCase{
		{"empty", encText, EncodeOptions{}, "", `""`},
		{"ascii", encText, EncodeOptions{}, "hello, world", `"hello, world"`},
		{"varchar", CodecFor(pgtype.VarcharOID, false), EncodeOptions{}, "abc", `"abc"`},
		{"char padded", CodecFor(pgtype.BPCharOID, false), EncodeOptions{}, "ab   ", `"ab   "`},
		{"unicode", encText, EncodeOptions{}, "héllo wörld ✓ 😀 日本語", `"héllo wörld ✓ 😀 日本語"`},
		{"quotes and backslash", encText, EncodeOptions{}, `say "hi" \ bye`, `"say \"hi\" \\ bye"`},
		{"control characters", encText, EncodeOptions{}, "a\nb\tc\rd\be\ff\x00g\x01h\x1f\x7f", `"a\nb\tc\rd\be\ff\u0000g\u0001h\u001f` + "\x7f" + `"`},
		{"html not escaped", encText, EncodeOptions{}, "<a>&</a>", `"<a>&</a>"`},
		{"line separators kept", encText, EncodeOptions{}, "a\u2028b\u2029c", "\"a\u2028b\u2029c\""},
		{"invalid UTF-8", encText, EncodeOptions{}, "a\xffb", `"a\ufffdb"`},
		{"truncated rune", encText, EncodeOptions{}, "a\xe2\x82", `"a\ufffd\ufffd"`},
		{"surrogate half", encText, EncodeOptions{}, "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"word boundaries", encText, EncodeOptions{}, long, `"` + strings.Repeat("abcdefgh", 5) + `\"` + strings.Repeat("z", 13) + `"`},
		{"unicode after words", encText, EncodeOptions{}, "abcdefghijklmnopé\n", `"abcdefghijklmnopé\n"`},
	})
}

func TestAppendValueTimestamps(t *testing.T) {
	runEncodeCases(t, []encodeCase{
		{"timestamp", encTimestamp, EncodeOptions{}, "2024-05-06 01:38:09.5", `"2024-05-06T01:38:09.5"`},
		{"timestamp whole second", encTimestamp, EncodeOptions{}, "2024-05-06 01:38:09", `"2024-05-06T01:38:09"`},
		{"timestamp microseconds", encTimestamp, EncodeOptions{}, "2024-05-06 01:38:09.123456", `"2024-05-06T01:38:09.123456"`},
		{"timestamp five-digit year", encTimestamp, EncodeOptions{}, "10000-01-01 00:00:00", `"10000-01-01T00:00:00"`},
		{"timestamp infinity", encTimestamp, EncodeOptions{}, "infinity", `"infinity"`},
		{"timestamp -infinity", encTimestamp, EncodeOptions{}, "-infinity", `"-infinity"`},
		{"timestamp BC", encTimestamp, EncodeOptions{}, "0044-03-15 12:00:00 BC", `"0044-03-15 12:00:00 BC"`},
		{"timestamp with zone", encTimestamp, EncodeOptions{}, "2024-05-06 01:38:09+00", `"2024-05-06 01:38:09+00"`},
		{"timestamp empty fraction", encTimestamp, EncodeOptions{}, "2024-05-06 01:38:09.", `"2024-05-06 01:38:09."`},

		{"timestamptz", encTimestamptz, EncodeOptions{}, "2024-05-06 01:38:09.5+00", `"2024-05-06T01:38:09.5Z"`},
		{"timestamptz whole second", encTimestamptz, EncodeOptions{}, "2024-05-06 01:38:09+00", `"2024-05-06T01:38:09Z"`},
		{"timestamptz microseconds", encTimestamptz, EncodeOptions{}, "2024-05-06 01:38:09.123456+00", `"2024-05-06T01:38:09.123456Z"`},
		{"timestamptz hour offset", encTimestamptz, EncodeOptions{}, "2024-05-06 01:38:09-08", `"2024-05-06T01:38:09-08:00"`},
		{"timestamptz minute offset", encTimestamptz, EncodeOptions{}, "2024-05-06 07:08:09.5+05:30", `"2024-05-06T07:08:09.5+05:30"`},
		{"timestamptz seconds offset", encTimestamptz, EncodeOptions{}, "1850-01-01 00:00:00+00:53:28", `"1850-01-01 00:00:00+00:53:28"`},
		{"timestamptz infinity", encTimestamptz, EncodeOptions{}, "infinity", `"infinity"`},
		{"timestamptz -infinity", encTimestamptz, EncodeOptions{}, "-infinity", `"-infinity"`},
		{"timestamptz BC", encTimestamptz, EncodeOptions{}, "2024-05-06 01:38:09+00 BC", `"2024-05-06 01:38:09+00 BC"`},
		{"timestamptz without zone", encTimestamptz, EncodeOptions{}, "2024-05-06 01:38:09", `"2024-05-06 01:38:09"`},
		{"timestamptz short year", encTimestamptz, EncodeOptions{}, "24-05-06 01:38:09+00", `"24-05-06 01:38:09+00"`},
	})
}

func TestValidJSON(t *testing.T) {
	for _, s := range []string{
		`0`, `-0`, `1.5e+3`, `"x"`, `true`, `false`, `null`, `[]`, `{}`, ` [ ] `,
		`{"a":[1,{"b":null}],"c":"\u00e9\"\\\/\b\f\n\r\t"}`, `[[[[]]],[]]`,
		strings.Repeat("[", maxFastJSONDepth) + strings.Repeat("]", maxFastJSONDepth),
		strings.Repeat("[", maxFastJSONDepth+1) + strings.Repeat("]", maxFastJSONDepth+1),
		strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70),
	} {
		if !validJSON([]byte(s)) {
			t.Errorf("validJSON(%.40q) = false, want true", s)
		}
	}
	for _, s := range []string{
		``, ` `, `01`, `1.`, `.1`, `+1`, `1e`, `-`, `"x`, `"\x"`, `"\u12"`, "\"\x01\"", "\"\xff\"",
		`tru`, `nul`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1,}`, `[}`, `{]`, `[1 2]`,
		`1 2`, `{}}`, `[`, `]`, `{"a":1`, `[1]x`,
		strings.Repeat("[", maxFastJSONDepth+1) + strings.Repeat("]", maxFastJSONDepth),
	} {
		if validJSON([]byte(s)) {
			t.Errorf("validJSON(%.40q) = true, want false", s)
		}
	}
}

// TestPlainWord compares the word-at-a-time check with the byte table on
// words made of bytes near the interesting boundaries.
func TestPlainWord(t *testing.T) {
	interesting := []byte{0, 1, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7e, 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	r := rand.New(rand.NewPCG(1, 2))
	var b [8]byte
	for n := 0; n < 200000; n++ {
		want := true
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = interesting[r.IntN(len(interesting))]
			} else {
				b[i] = byte(0x20 + r.IntN(0x60))
			}
			if !plainByte[b[i]] {
				want = false
			}
		}
		if got := plainWord(binary.LittleEndian.Uint64(b[:])); got != want {
			t.Fatalf("plainWord(%q) = %v, want %v", b, got, want)
		}
	}
}

// FuzzAppendValue checks the promise every codec makes: whatever the input,
// the output is one valid JSON value in valid UTF-8 on one line, appended
// after dst.
func FuzzAppendValue(f *testing.F) {
	for _, s := range []string{
		"123", "-0", "1e+20", "NaN", "Infinity", "t", `\xdead`, "2024-05-06 01:38:09.5+00",
		"2024-05-06 01:38:09+05:30", "infinity", "0044-03-15 12:00:00 BC", `{"a": [1, "b"]}`,
		"{1,2,NULL}", "{{1,2},{3,4}}", "[0:1]={1,2}", `{"a b","c\"d",NULL}`, `{"{\"a\": 1}",2}`,
		`{"\\xdead"}`, "{(1,1),(0,0);(3,3),(2,2)}", "{}", "{{}}", "{1,{2}}", `{a\,b}`, "a\xffb\x01",
	} {
		for kind := CodecText; kind <= CodecTimestamptz; kind++ {
			f.Add(uint8(kind), false, byte(','), uint8(0), []byte(s))
			f.Add(uint8(kind), true, byte(','), uint8(3), []byte(s))
		}
	}
	f.Add(uint8(CodecText), true, byte(';'), uint8(0), []byte("{(1,1),(0,0);(3,3),(2,2)}"))
	f.Fuzz(func(t *testing.T, kind uint8, array bool, delim byte, flags uint8, text []byte) {
		c := Codec{Kind: CodecKind(kind % 10), Array: array, Delim: delim, BaseOID: pgtype.Int8OID}
		if kind&0x80 != 0 {
			c.BaseOID = pgtype.NumericOID
		}
		opt := EncodeOptions{Int8AsString: flags&1 != 0, NumericAsString: flags&2 != 0}
		in := append([]byte(nil), text...)
		out := AppendValue([]byte("[["), c, text, opt)
		if string(out[:2]) != "[[" {
			t.Fatalf("prefix overwritten: %q", out)
		}
		if !json.Valid(out[2:]) || !utf8.Valid(out[2:]) {
			t.Fatalf("AppendValue(%+v, %q) = %q: not valid JSON in UTF-8", c, text, out[2:])
		}
		if bytes.ContainsAny(out, "\r\n") {
			t.Fatalf("AppendValue(%+v, %q) = %q: has a raw line break", c, text, out[2:])
		}
		if !bytes.Equal(in, text) {
			t.Fatalf("input modified: %q, was %q", text, in)
		}
	})
}

// FuzzValidJSON holds validJSON to encoding/json's verdict plus UTF-8, and
// checks that valid json is copied verbatim but for line breaks.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,"x\u00e9"],"b":{}}`, `[`, `"\ud800"`, "\"\xff\"", ` 1 `, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := json.Valid(b) && utf8.Valid(b)
		if got := validJSON(b); got != want {
			t.Fatalf("validJSON(%q) = %v, want %v", b, got, want)
		}
		if want {
			verbatim := strings.NewReplacer("\n", " ", "\r", " ").Replace(string(trimJSONSpace(b)))
			if out := AppendValue(nil, encJSON, b, EncodeOptions{}); string(out) != verbatim {
				t.Fatalf("json %q rendered as %q, want %q", b, out, verbatim)
			}
		}
	})
}
