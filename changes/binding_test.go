package changes

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/walcast/walcast/filter"
)

func TestParseBinding(t *testing.T) {
	for _, tc := range []struct {
		in                    Binding
		events                filter.EventMask
		schema, table, errSub string
	}{
		{in: Binding{Event: "*", Schema: "public", Table: "items"}, events: filter.EventAll, schema: "public", table: "items"},
		{in: Binding{Event: "insert", Schema: "s", Table: "*"}, events: filter.EventInsert, schema: "s", table: "*"},
		{in: Binding{Event: "Update", Schema: "s"}, events: filter.EventUpdate, schema: "s", table: "*"},
		{in: Binding{Event: "DELETE", Table: "t"}, events: filter.EventDelete, schema: "public", table: "t"},
		{in: Binding{Event: "TRUNCATE", Table: "t"}, events: filter.EventAll, schema: "public", table: "t"},
		{in: Binding{Event: "", Table: "t"}, events: filter.EventAll, schema: "public", table: "t"},
		{in: Binding{Event: " INSERT", Table: "t"}, events: filter.EventAll, schema: "public", table: "t"},
		{in: Binding{Event: "*", Schema: "*", Table: "*", Filter: "  "}, events: filter.EventAll, schema: "*", table: "*"},
		{in: Binding{Event: "*"}, errSub: "No subscription params provided"},
		{in: Binding{Event: "*", Filter: "id=eq.1"}, errSub: "filters: id=eq.1]"},
		{in: Binding{Event: "*", Table: "t", Filter: "id=eq.1,,x=eq.2"}, errSub: "condition 2 is empty"},
		{in: Binding{Event: "*", Table: "t", Filter: "id=between.1"}, errSub: `unknown operator "between"`},
		{in: Binding{Event: "*", Table: "t", Filter: "body=like.%" + strings.Repeat("a", 600)}, errSub: `column "body", operator like: pattern of 601 bytes is longer than the limit of 512 bytes`},
		{in: Binding{Event: "*", Table: "t", Filter: strings.Repeat("x", 5000)}, errSub: "filter of 5000 bytes is longer than the limit of 4096 bytes"},
		{in: Binding{Event: "*", Filter: strings.Repeat("x", 5000)}, errSub: "filters: " + strings.Repeat("x", 200) + "…]"},
	} {
		s, err := parseBinding(tc.in, filter.Limits{})
		switch {
		case tc.errSub != "":
			if err == nil || !strings.Contains(err.Error(), tc.errSub) {
				t.Errorf("parseBinding(%+v) error = %v, want one containing %q", tc.in, err, tc.errSub)
			}
		case err != nil:
			t.Errorf("parseBinding(%+v): %v", tc.in, err)
		case s.events != tc.events || s.schema != tc.schema || s.table != tc.table:
			t.Errorf("parseBinding(%+v) = %v %s.%s, want %v %s.%s", tc.in, s.events, s.schema, s.table, tc.events, tc.schema, tc.table)
		}
	}
}

// Without a database every binding is refused, with ids all the same, and
// a sink that cannot key a map is refused rather than a panic.
func TestSubscribeWithoutDatabase(t *testing.T) {
	d := New(Config{})
	bindings := []Binding{{Event: "*", Table: "t"}, {Event: "*"}}
	ids, err := d.Subscribe(context.Background(), &recorder{}, bindings)
	var se *SubscribeError
	if len(ids) != 2 || ids[0] == ids[1] || !errors.As(err, &se) || len(se.Refused) != 2 ||
		!strings.Contains(se.Refused[0].Error(), "no database") || !strings.Contains(se.Refused[1].Error(), "No subscription params") {
		t.Errorf("Subscribe = %v, %v", ids, err)
	}
	if _, err := d.Subscribe(context.Background(), funcSink{}, bindings); err == nil || !strings.Contains(err.Error(), "comparable") {
		t.Errorf("Subscribe(non-comparable sink) error = %v", err)
	}
	d.Unsubscribe(funcSink{})
	if ids, err := d.Subscribe(context.Background(), &recorder{}, nil); ids != nil || err != nil {
		t.Errorf("Subscribe(no bindings) = %v, %v", ids, err)
	}
}

// funcSink is not comparable: it cannot key a map.
type funcSink struct{ _ func() }

func (funcSink) DeliverChange([]uint64, []byte) {}
