package replication

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestAppendChangeTooLarge(t *testing.T) {
	rel := &Relation{ID: 1, Schema: "public", Table: "docs", Columns: []Column{
		encColumn("id", pgtype.Int4OID, "int4", true, CodecFor(pgtype.Int4OID, false)),
		encColumn("fits", pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
		encColumn("over", pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
		encColumn("quotes", pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
		encColumn("gone", pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
		encColumn("note", pgtype.TextOID, "text", false, CodecFor(pgtype.TextOID, false)),
	}}
	fits := strings.Repeat("a", TooLargeValueBytes-2) // "aaa…" is exactly the limit
	over := strings.Repeat("b", TooLargeValueBytes-1) // one byte over
	quotes := strings.Repeat(`"`, 40)                 // 40 bytes of text, 82 of JSON
	row := []Value{encTV("7"), encTV(fits), encTV(over), encTV(quotes), encTV(strings.Repeat("x", 10_000)), encNull}
	kept := map[string]any{"id": 7.0, "fits": fits, "note": nil}

	for _, tc := range []struct {
		name       string
		ch         Change
		record     map[string]any // nil: no record key
		oldRecord  map[string]any // nil: no old_record key
		unchanged  []string
		typeString string
	}{
		{name: "insert", ch: Change{Kind: Insert, New: row}, record: kept, typeString: "INSERT"},
		{name: "update full", ch: Change{Kind: Update, New: row, Old: row}, record: kept, oldRecord: kept, typeString: "UPDATE"},
		{name: "update without old row", ch: Change{Kind: Update, New: row}, record: kept, oldRecord: map[string]any{"id": 7.0}, typeString: "UPDATE"},
		{name: "delete key only", ch: Change{Kind: Delete, Old: []Value{encTV("7"), encNull, encNull, encNull, encNull, encNull}, OldKeyOnly: true},
			oldRecord: map[string]any{"id": 7.0}, typeString: "DELETE"},
		{name: "unchanged toast", ch: Change{Kind: Update, New: []Value{encTV("7"), encTV(fits), encToast, encTV(over), encToast, encNull}},
			record: map[string]any{"id": 7.0, "fits": fits, "note": nil}, oldRecord: map[string]any{"id": 7.0}, unchanged: []string{"over", "gone"}, typeString: "UPDATE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := tc.ch
			ch.Relation, ch.CommitTime, ch.Cursor = rel, encCommitTime, encCursor
			got := AppendChangeTooLarge([]byte("prefix"), &ch, EncodeOptions{})
			if !strings.HasPrefix(string(got), "prefix") {
				t.Fatalf("dst not appended to: %q", got)
			}
			got = got[len("prefix"):]
			var small, full map[string]json.RawMessage
			if err := json.Unmarshal(got, &small); err != nil {
				t.Fatalf("invalid JSON %s: %v", got, err)
			}
			if err := json.Unmarshal(AppendChange(nil, &ch, EncodeOptions{}), &full); err != nil {
				t.Fatal(err)
			}
			// Everything but the rows and errors is what AppendChange writes.
			for k, v := range full {
				switch k {
				case "record", "old_record", "errors":
					if _, ok := small[k]; !ok {
						t.Errorf("key %s missing", k)
					}
				default:
					if string(small[k]) != string(v) {
						t.Errorf("%s = %s, want %s as AppendChange writes it", k, small[k], v)
					}
				}
			}
			if len(small) != len(full) {
				t.Errorf("keys differ from AppendChange's:\n%s\n%s", got, AppendChange(nil, &ch, EncodeOptions{}))
			}
			var e struct {
				Type      string          `json:"type"`
				Record    *map[string]any `json:"record"`
				OldRecord *map[string]any `json:"old_record"`
				Unchanged []string        `json:"unchanged_toast"`
				Errors    []string        `json:"errors"`
			}
			if err := json.Unmarshal(got, &e); err != nil {
				t.Fatal(err)
			}
			if e.Type != tc.typeString || !reflect.DeepEqual(e.Errors, []string{ErrPayloadTooLarge}) {
				t.Errorf("type %s errors %q, want %s [%s]", e.Type, e.Errors, tc.typeString, ErrPayloadTooLarge)
			}
			checkRow(t, "record", e.Record, tc.record)
			checkRow(t, "old_record", e.OldRecord, tc.oldRecord)
			if !reflect.DeepEqual(e.Unchanged, tc.unchanged) {
				t.Errorf("unchanged_toast = %q, want %q", e.Unchanged, tc.unchanged)
			}
		})
	}
}

func checkRow(t *testing.T, name string, got *map[string]any, want map[string]any) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s = %v, want no such key", name, *got)
	case want != nil && got == nil:
		t.Errorf("%s missing, want %v", name, want)
	case want != nil && !reflect.DeepEqual(*got, want):
		t.Errorf("%s = %v, want %v", name, *got, want)
	}
}
