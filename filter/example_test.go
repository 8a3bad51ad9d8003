package filter_test

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
)

func ExampleParse() {
	conds, err := filter.Parse(`name=eq."a,b",id=in.(1,2,3),status=not.in.(x,y),deleted=is.null`)
	if err != nil {
		panic(err)
	}
	for _, c := range conds {
		fmt.Println(c.Column, c.Not, c.Op, c.Value, c.List)
	}
	_, err = filter.Parse("age=foo.5")
	fmt.Println(err)
	// Output:
	// name false eq a,b []
	// id false in  [1 2 3]
	// status true in  [x y]
	// deleted false is null []
	// filter "age=foo.5": unknown operator "foo" for column "age"; want one of eq, neq, lt, lte, gt, gte, in, like, ilike, match, imatch, is, isdistinct (optionally prefixed by not.)
}

func ExampleIndex() {
	rel := &replication.Relation{ID: 16384, Schema: "public", Table: "messages", Columns: []replication.Column{
		{Name: "id", TypeName: "int8", Key: true, Codec: replication.CodecFor(pgtype.Int8OID, false)},
		{Name: "room", TypeName: "int4", Codec: replication.CodecFor(pgtype.Int4OID, false)},
		{Name: "body", TypeName: "text", Codec: replication.CodecFor(pgtype.TextOID, false)},
	}}
	ix := filter.NewIndex()
	ix.Bind(rel) // from the replication stream's Relation message
	for _, sub := range []filter.Subscription{
		{ID: 1, Events: filter.EventAll, Table: "messages", Filter: "room=eq.7"},
		{ID: 2, Events: filter.EventInsert, Table: "messages", Filter: "room=in.(7,8),body=ilike.%hello%"},
		{ID: 3, Events: filter.EventDelete, Table: "messages"},
	} {
		if err := ix.Add(sub, nil); err != nil {
			panic(err)
		}
	}
	text := func(s string) replication.Value {
		return replication.Value{State: replication.ValueText, Data: []byte(s)}
	}
	ch := &replication.Change{Relation: rel, Kind: replication.Insert, New: []replication.Value{text("1"), text("7"), text("Hello there")}}
	fmt.Println(ix.Match(ch, nil))

	if err := ix.Add(filter.Subscription{ID: 4, Events: filter.EventAll, Table: "messages", Filter: "room=eq.seven"}, nil); err != nil {
		fmt.Println(err)
	}
	// Output:
	// [1 2]
	// subscription 4: filter "room=eq.seven": invalid input for column "room" (int4): want an integer between -2147483648 and 2147483647
}
