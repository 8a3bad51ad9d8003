package replication

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestAppendValueArrays(t *testing.T) {
	int4s := CodecFor(pgtype.Int4OID, true)
	texts := CodecFor(pgtype.TextOID, true)
	runEncodeCases(t, []encodeCase{
		{"int4[]", int4s, EncodeOptions{}, "{1,2,3}", "[1,2,3]"},
		{"int4[] NULL", int4s, EncodeOptions{}, "{1,NULL,3}", "[1,null,3]"},
		{"int4[] lower-case null", int4s, EncodeOptions{}, "{null}", "[null]"},
		{"int4[] single", int4s, EncodeOptions{}, "{-7}", "[-7]"},
		{"int4[][]", int4s, EncodeOptions{}, "{{1,2},{3,4}}", "[[1,2],[3,4]]"},
		{"int4[][][]", int4s, EncodeOptions{}, "{{{1,2},{3,4}},{{5,6},{7,NULL}}}", "[[[1,2],[3,4]],[[5,6],[7,null]]]"},
		{"six dimensions", int4s, EncodeOptions{}, "{{{{{{1}}}}}}", "[[[[[[1]]]]]]"},
		{"empty", int4s, EncodeOptions{}, "{}", "[]"},
		{"bounds", int4s, EncodeOptions{}, "[0:1]={1,2}", "[1,2]"},
		{"negative bounds", int4s, EncodeOptions{}, "[-3:-2]={1,2}", "[1,2]"},
		{"bounds 2-D", int4s, EncodeOptions{}, "[0:1][1:2]={{1,2},{3,4}}", "[[1,2],[3,4]]"},
		{"int8[]", CodecFor(pgtype.Int8OID, true), EncodeOptions{}, "{1,9007199254740993}", "[1,9007199254740993]"},
		{"int8[] as strings", CodecFor(pgtype.Int8OID, true), optInt8Str, "{1,9007199254740993,NULL}", `["1","9007199254740993",null]`},
		{"float8[]", CodecFor(pgtype.Float8OID, true), EncodeOptions{}, "{1.5,NaN,-Infinity,1e+20,-0}", `[1.5,"NaN","-Infinity",1e+20,-0]`},
		{"numeric[]", CodecFor(pgtype.NumericOID, true), EncodeOptions{}, "{1.50,NaN,123456789012345678901234567890}", `[1.50,"NaN",123456789012345678901234567890]`},
		{"numeric[] as strings", CodecFor(pgtype.NumericOID, true), optNumericStr, "{1.50}", `["1.50"]`},
		{"bool[]", CodecFor(pgtype.BoolOID, true), EncodeOptions{}, "{t,f,NULL}", "[true,false,null]"},

		{"text[]", texts, EncodeOptions{}, `{a,b3,"with space"}`, `["a","b3","with space"]`},
		{"text[] specials", texts, EncodeOptions{}, `{"a,b","c\"d","e\\f","{x}",NULL,"NULL","",x}`, `["a,b","c\"d","e\\f","{x}",null,"NULL","","x"]`},
		{"text[] unicode", texts, EncodeOptions{}, `{héllo,"wö rld",😀}`, `["héllo","wö rld","😀"]`},
		{"text[] control characters", texts, EncodeOptions{}, "{\"a\nb\",\"\\\\n\"}", `["a\nb","\\n"]`},
		{"text[] escaped unquoted", texts, EncodeOptions{}, `{a\,b}`, `["a,b"]`},
		{"text[][]", texts, EncodeOptions{}, `{{a,"b c"},{NULL,d}}`, `[["a","b c"],[null,"d"]]`},
		{"varchar[] bounds", CodecFor(pgtype.VarcharOID, true), EncodeOptions{}, `[2:3]={x,y}`, `["x","y"]`},
		{"uuid[]", CodecFor(pgtype.UUIDOID, true), EncodeOptions{}, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", `["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]`},
		{"enum[]", CodecFor(0, true), EncodeOptions{}, "{happy,sad}", `["happy","sad"]`},
		{"date[]", CodecFor(pgtype.DateOID, true), EncodeOptions{}, "{2024-05-06,infinity}", `["2024-05-06","infinity"]`},
		{"int4range[]", CodecFor(0, true), EncodeOptions{}, `{"[1,5)","[7,9)"}`, `["[1,5)","[7,9)"]`},
		{"composite[]", CodecFor(0, true), EncodeOptions{}, `{"(1,\"a b\")","(2,)"}`, `["(1,\"a b\")","(2,)"]`},
		{"box[]", CodecFor(pgtype.BoxOID, true), EncodeOptions{}, "{(1,1),(0,0);(3,3),(2,2)}", `["(1,1),(0,0)","(3,3),(2,2)"]`},
		{"zero delimiter means comma", Codec{Array: true}, EncodeOptions{}, "{a,b}", `["a","b"]`},

		{"json[]", CodecFor(pgtype.JSONOID, true), EncodeOptions{}, `{"{\"a\": 1}","[1, 2]","\"s\"",5,NULL,"null",true}`, `[{"a": 1},[1, 2],"s",5,null,null,true]`},
		{"jsonb[] escaped backslash", CodecFor(pgtype.JSONBOID, true), EncodeOptions{}, `{"{\"a\": \"x\\\\y\"}"}`, `[{"a": "x\\y"}]`},
		{"json[] invalid element", CodecFor(pgtype.JSONOID, true), EncodeOptions{}, `{"{\"a\":"}`, `["{\"a\":"]`},
		{"bytea[]", CodecFor(pgtype.ByteaOID, true), EncodeOptions{}, `{"\\xdead","\\x",NULL}`, `["dead","",null]`},
		{"timestamptz[]", CodecFor(pgtype.TimestamptzOID, true), EncodeOptions{}, `{"2024-05-06 01:38:09.5+00",infinity,"0044-03-15 12:00:00+00 BC"}`, `["2024-05-06T01:38:09.5Z","infinity","0044-03-15 12:00:00+00 BC"]`},
		{"timestamp[]", CodecFor(pgtype.TimestampOID, true), EncodeOptions{}, `{"2024-05-06 01:38:09",NULL}`, `["2024-05-06T01:38:09",null]`},

		// Not array_out output: rendered as the literal's text.
		{"unterminated", int4s, EncodeOptions{}, "{1,2", `"{1,2"`},
		{"empty element", int4s, EncodeOptions{}, "{1,,2}", `"{1,,2}"`},
		{"trailing delimiter", int4s, EncodeOptions{}, "{1,}", `"{1,}"`},
		{"no braces", int4s, EncodeOptions{}, "1,2", `"1,2"`},
		{"trailing text", int4s, EncodeOptions{}, "{1}x", `"{1}x"`},
		{"too many closing", int4s, EncodeOptions{}, "{1}}", `"{1}}"`},
		{"bounds without =", int4s, EncodeOptions{}, "[0:1]{1,2}", `"[0:1]{1,2}"`},
		{"bad bounds", int4s, EncodeOptions{}, "[0]={1}", `"[0]={1}"`},
		{"unterminated quote", texts, EncodeOptions{}, `{"a}`, `"{\"a}"`},
		{"quote inside unquoted", texts, EncodeOptions{}, `{a"b"}`, `"{a\"b\"}"`},
		{"trailing backslash", texts, EncodeOptions{}, `{a\`, `"{a\\"`},
		{"seven dimensions", int4s, EncodeOptions{}, "{{{{{{{1}}}}}}}", `"{{{{{{{1}}}}}}}"`},
		{"empty text", int4s, EncodeOptions{}, "", `""`},
		{"element garbage stays valid", int4s, EncodeOptions{}, "{1a,2}", `["1a",2]`},
	})
}
