package tail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
)

func testRelation() *replication.Relation {
	return &replication.Relation{ID: 1, Schema: "public", Table: "orders", Columns: []replication.Column{
		{Name: "id", TypeName: "int4", Key: true, Codec: replication.CodecFor(pgtype.Int4OID, false)},
		{Name: "status", TypeName: "text", Codec: replication.CodecFor(pgtype.TextOID, false)},
	}}
}

func change(rel *replication.Relation, ord uint32, id, status string) *replication.Change {
	return &replication.Change{Relation: rel, Kind: replication.Insert, CommitTime: time.Unix(0, 0), Cursor: replication.Cursor{LSN: 16, Ordinal: ord},
		New: []replication.Value{{State: replication.ValueText, Data: []byte(id)}, {State: replication.ValueText, Data: []byte(status)}}}
}

func TestPrinterFiltersCountsAndFlushes(t *testing.T) {
	ctx := context.Background()
	rel := testRelation()
	index := filter.NewIndex()
	if err := index.Add(filter.Subscription{ID: 1, Events: filter.EventAll, Schema: "public", Table: "orders", Filter: "status=eq.paid"}, rel); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p := NewPrinter(&out, index, 2, replication.EncodeOptions{})
	if err := p.HandleRelation(ctx, rel); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		ch      *replication.Change
		wantErr error
	}{
		{change(rel, 1, "1", "open"), nil},
		{change(rel, 2, "2", "paid"), nil},
		{change(rel, 3, "3", "paid"), replication.ErrStop},
	}
	for _, s := range steps {
		if err := p.HandleChange(ctx, s.ch); !errors.Is(err, s.wantErr) {
			t.Fatalf("HandleChange(%s) = %v, want %v", s.ch.Cursor, err, s.wantErr)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || p.Printed() != 2 {
		t.Fatalf("printed %d lines (%d counted), want 2:\n%s", len(lines), p.Printed(), out.String())
	}
	for i, l := range lines {
		var e struct {
			Record map[string]any `json:"record"`
			Cursor string         `json:"cursor"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %d is not JSON: %s", i, l)
		}
		if e.Record["id"] != float64(i+2) || e.Record["status"] != "paid" {
			t.Errorf("line %d = %s, want order %d (paid)", i, l, i+2)
		}
	}
}

func TestPrinterWithoutIndexPrintsEverything(t *testing.T) {
	var out bytes.Buffer
	p := NewPrinter(&out, nil, 0, replication.EncodeOptions{})
	rel := testRelation()
	for i := range 3 {
		if err := p.HandleChange(context.Background(), change(rel, uint32(i+1), "1", "x")); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() != 0 {
		t.Error("printed before a flush: output should be buffered")
	}
	_ = p.Flush(context.Background())
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("printed %d lines, want 3", n)
	}
}
