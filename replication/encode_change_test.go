package replication

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

func encColumn(name string, oid uint32, typeName string, key bool, codec Codec) Column {
	return Column{Name: name, TypeOID: oid, TypeName: typeName, Key: key, Codec: codec}
}

func encTV(s string) Value { return Value{State: ValueText, Data: []byte(s)} }

var (
	encNull  = Value{State: ValueNull}
	encToast = Value{State: ValueUnchanged}
)

// encItems is the benchmark table of the design notes:
// items(id bigint pk, account uuid, name text, qty int, price numeric(12,2),
// tags text[], meta jsonb, active bool, created_at timestamptz).
var encItems = &Relation{
	ID: 16400, Schema: "public", Table: "items", ReplicaIdentity: 'd',
	Columns: []Column{
		encColumn("id", pgtype.Int8OID, "int8", true, CodecFor(pgtype.Int8OID, false)),
		encColumn("account", pgtype.UUIDOID, "uuid", false, CodecFor(pgtype.UUIDOID, false)),
		encColumn("name", pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
		encColumn("qty", pgtype.Int4OID, "int4", false, CodecFor(pgtype.Int4OID, false)),
		encColumn("price", pgtype.NumericOID, "numeric", false, CodecFor(pgtype.NumericOID, false)),
		encColumn("tags", pgtype.TextArrayOID, "_text", false, CodecFor(pgtype.TextOID, true)),
		encColumn("meta", pgtype.JSONBOID, "jsonb", false, CodecFor(pgtype.JSONBOID, false)),
		encColumn("active", pgtype.BoolOID, "bool", false, CodecFor(pgtype.BoolOID, false)),
		encColumn("created_at", pgtype.TimestamptzOID, "timestamptz", false, CodecFor(pgtype.TimestamptzOID, false)),
	},
}

func encItemsRow() []Value {
	return []Value{
		encTV("1234567"),
		encTV("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
		encTV("item number 1234567 (blue)"),
		encTV("42"),
		encTV("1234.50"),
		encTV(`{a,b3,"with space"}`),
		encTV(`{"color": "blue", "size": 10, "tags": ["x", "y"]}`),
		encTV("t"),
		encTV("2024-05-06 01:38:09.123456+00"),
	}
}

var (
	encCommitTime = time.Date(2025, 11, 19, 0, 22, 40, 877_654_321, time.UTC)
	encCursor     = Cursor{LSN: 0x1A2B3C8, Ordinal: 1}
)

func TestAppendRecord(t *testing.T) {
	rel := &Relation{Schema: "public", Table: "t", Columns: []Column{
		encColumn("id", pgtype.Int4OID, "int4", true, CodecFor(pgtype.Int4OID, false)),
		encColumn(`we"ird\name`, pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
		encColumn("naïve", pgtype.BoolOID, "bool", false, CodecFor(pgtype.BoolOID, false)),
		encColumn("body", pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
	}}
	for _, tc := range []struct {
		name string
		row  []Value
		want string
	}{
		{"all", []Value{encTV("1"), encTV("x"), encTV("t"), encTV("b")}, `{"id":1,"we\"ird\\name":"x","naïve":true,"body":"b"}`},
		{"nulls", []Value{encTV("1"), encNull, encNull, encNull}, `{"id":1,"we\"ird\\name":null,"naïve":null,"body":null}`},
		{"unchanged and absent left out", []Value{encTV("1"), {}, encTV("f"), encToast}, `{"id":1,"naïve":false}`},
		{"short row", []Value{encTV("1")}, `{"id":1}`},
		{"no row", nil, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendRecord(nil, rel, tc.row, EncodeOptions{})
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
	if got := AppendRecord(nil, nil, []Value{encTV("1")}, EncodeOptions{}); string(got) != "{}" {
		t.Errorf("nil relation: got %s, want {}", got)
	}
}

// encTodos has a TOASTable column and a key, for the golden changes.
var encTodos = &Relation{
	ID: 16500, Schema: "public", Table: "todos", ReplicaIdentity: 'd',
	Columns: []Column{
		encColumn("id", pgtype.Int8OID, "int8", true, CodecFor(pgtype.Int8OID, false)),
		encColumn("title", pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
		encColumn("done", pgtype.BoolOID, "bool", false, CodecFor(pgtype.BoolOID, false)),
		encColumn("price", pgtype.NumericOID, "numeric", false, CodecFor(pgtype.NumericOID, false)),
		encColumn("body", pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
		encColumn("due", 16622, "due_date", false, CodecFor(pgtype.TimestamptzOID, false)), // a domain
	},
}

func TestAppendChangeGolden(t *testing.T) {
	newRow := []Value{encTV("9007199254740993"), encTV(`buy "milk"`), encTV("f"), encTV("3.50"), encTV("long body"), encTV("2025-11-19 00:22:40.5+00")}
	for _, tc := range []struct {
		name string
		ch   Change
		opt  EncodeOptions
	}{
		{"insert", Change{Kind: Insert, New: newRow}, EncodeOptions{}},
		{"insert_as_strings", Change{Kind: Insert, New: newRow}, EncodeOptions{Int8AsString: true, NumericAsString: true}},
		{"insert_nulls", Change{Kind: Insert, New: []Value{encTV("1"), encNull, encNull, encNull, encNull, encNull}}, EncodeOptions{}},
		{"update_default", Change{Kind: Update, New: newRow}, EncodeOptions{}},
		{"update_toast", Change{Kind: Update, New: []Value{encTV("7"), encTV("t2"), encTV("t"), encNull, encToast, encToast}}, EncodeOptions{}},
		{"update_key_changed", Change{Kind: Update, New: newRow, OldKeyOnly: true,
			Old: []Value{encTV("6"), encNull, encNull, encNull, encNull, encNull}}, EncodeOptions{}},
		{"update_full", Change{Kind: Update, New: newRow,
			Old: []Value{encTV("9007199254740993"), encTV("buy milk"), encTV("t"), encNull, encTV("long body"), encTV("infinity")}}, EncodeOptions{}},
		{"delete_key_only", Change{Kind: Delete, OldKeyOnly: true, Old: []Value{encTV("7"), encNull, encNull, encNull, encNull, encNull}}, EncodeOptions{}},
		{"delete_full", Change{Kind: Delete, Old: []Value{encTV("7"), encTV("x"), encTV("f"), encTV("NaN"), encNull, encNull}}, EncodeOptions{}},
		{"truncate", Change{Kind: Truncate}, EncodeOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := tc.ch
			ch.Relation, ch.CommitTime, ch.Cursor = encTodos, encCommitTime, encCursor
			got := AppendChange(nil, &ch, tc.opt)
			checkEncodeGolden(t, filepath.Join("testdata", "encode", tc.name+".golden.json"), got)
		})
	}
}

// checkEncodeGolden compares compact JSON with an indented golden file. Indenting
// keeps key order and every value's text, so the comparison stays exact.
func checkEncodeGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, got); err != nil {
		t.Fatalf("not valid JSON: %v\n%s", err, got)
	}
	if !bytes.Equal(compact.Bytes(), got) {
		t.Errorf("output is not compact:\n%s", got)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	indented.WriteByte('\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, indented.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(indented.Bytes(), want) {
		t.Errorf("%s differs (go test -update rewrites it)\n got:\n%s\nwant:\n%s", path, indented.Bytes(), want)
	}
}

func TestAppendChangeEdges(t *testing.T) {
	rel := &Relation{Schema: `s"x`, Table: "t\n", Columns: []Column{
		encColumn("id", pgtype.Int4OID, "int4", true, CodecFor(pgtype.Int4OID, false)),
	}}
	for _, tc := range []struct {
		name string
		ch   Change
		want string
	}{
		{"zero commit time is null", Change{Relation: rel, Kind: Insert, New: []Value{encTV("1")}},
			`{"schema":"s\"x","table":"t\n","type":"INSERT","commit_timestamp":null,"columns":[{"name":"id","type":"int4","primary_key":true}],"record":{"id":1},"errors":null,"cursor":"0000000000000000-00000000"}`},
		{"commit time in another zone is UTC", Change{Relation: rel, Kind: Delete, CommitTime: time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.FixedZone("x", 5*3600)), Cursor: encCursor},
			`{"schema":"s\"x","table":"t\n","type":"DELETE","commit_timestamp":"2025-01-01T22:04:05.006Z","columns":[{"name":"id","type":"int4","primary_key":true}],"old_record":{},"errors":null,"cursor":"0000000001A2B3C8-00000001"}`},
		{"year beyond 9999", Change{Relation: rel, Kind: Truncate, CommitTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
			`{"schema":"s\"x","table":"t\n","type":"TRUNCATE","commit_timestamp":"10000-01-01T00:00:00.000Z","columns":[{"name":"id","type":"int4","primary_key":true}],"errors":null,"cursor":"0000000000000000-00000000"}`},
		{"nil relation", Change{Kind: Truncate},
			`{"schema":"","table":"","type":"TRUNCATE","commit_timestamp":null,"columns":[],"errors":null,"cursor":"0000000000000000-00000000"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendChange(nil, &tc.ch, EncodeOptions{})
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

// TestAppendChangeAllocs holds the hot path to its budget: with a reused
// buffer, encoding a change allocates nothing.
func TestAppendChangeAllocs(t *testing.T) {
	jsonArr := &Relation{Schema: "public", Table: "j", Columns: []Column{
		encColumn("id", pgtype.Int8OID, "int8", true, CodecFor(pgtype.Int8OID, false)),
		encColumn("docs", pgtype.JSONArrayOID, "_json", false, CodecFor(pgtype.JSONOID, true)),
		encColumn("blobs", pgtype.ByteaArrayOID, "_bytea", false, CodecFor(pgtype.ByteaOID, true)),
	}}
	for _, tc := range []struct {
		name string
		ch   Change
	}{
		{"insert items", Change{Relation: encItems, Kind: Insert, New: encItemsRow()}},
		{"update items", Change{Relation: encItems, Kind: Update, New: encItemsRow()}},
		{"update toast", Change{Relation: encTodos, Kind: Update, New: []Value{encTV("7"), encTV("t2"), encTV("t"), encNull, encToast, encToast}}},
		{"escaped array elements", Change{Relation: jsonArr, Kind: Insert, New: []Value{
			encTV("1"), encTV(`{"{\"a\": \"x\\\\y\"}",NULL}`), encTV(`{"\\xdead"}`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ch.CommitTime, tc.ch.Cursor = encCommitTime, encCursor
			opt := EncodeOptions{Int8AsString: true}
			buf := AppendChange(nil, &tc.ch, opt)
			if !json.Valid(buf) {
				t.Fatalf("not valid JSON: %s", buf)
			}
			if n := testing.AllocsPerRun(100, func() { buf = AppendChange(buf[:0], &tc.ch, opt) }); n != 0 {
				t.Errorf("AppendChange allocates %v times per call, want 0", n)
			}
		})
	}
}
