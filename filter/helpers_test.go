package filter

import (
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/walcast/walcast/replication"
)

// Markers for row values in tests.
const (
	null  = "\x00NULL"
	toast = "\x00TOAST"
)

type colDef struct {
	name, typeName string
	oid            uint32
	array          bool
}

var testCols = []colDef{
	{"id", "int8", pgtype.Int8OID, false},
	{"i2", "int2", pgtype.Int2OID, false},
	{"i4", "int4", pgtype.Int4OID, false},
	{"i8", "int8", pgtype.Int8OID, false},
	{"o", "oid", pgtype.OIDOID, false},
	{"f4", "float4", pgtype.Float4OID, false},
	{"f8", "float8", pgtype.Float8OID, false},
	{"num", "numeric", pgtype.NumericOID, false},
	{"txt", "text", pgtype.TextOID, false},
	{"vc", "varchar", pgtype.VarcharOID, false},
	{"bp", "bpchar", oidBpchar, false},
	{"nm", "name", oidName, false},
	{"b", "bool", pgtype.BoolOID, false},
	{"u", "uuid", pgtype.UUIDOID, false},
	{"d", "date", pgtype.DateOID, false},
	{"ts", "timestamp", pgtype.TimestampOID, false},
	{"tstz", "timestamptz", pgtype.TimestamptzOID, false},
	{"by", "bytea", pgtype.ByteaOID, false},
	{"js", "jsonb", pgtype.JSONBOID, false},
	{"arr", "_int4", pgtype.Int4OID, true},
	{"mood", "mood", 0, false},
	{"iv", "interval", pgtype.IntervalOID, false},
}

func testRelation() *replication.Relation {
	return relation(1000, "public", "t", testCols)
}

func relation(id uint32, schema, table string, cols []colDef) *replication.Relation {
	rel := &replication.Relation{ID: id, Schema: schema, Table: table, ReplicaIdentity: 'd'}
	for _, c := range cols {
		oid := c.oid
		if oid == 0 {
			oid = 70000
		}
		rel.Columns = append(rel.Columns, replication.Column{
			Name: c.name, TypeOID: oid, TypeName: c.typeName, Key: c.name == "id",
			Codec: replication.CodecFor(c.oid, c.array),
		})
	}
	return rel
}

// row builds a tuple for rel: listed columns get text (or the null and toast
// markers), the others are absent.
func row(rel *replication.Relation, vals map[string]string) []replication.Value {
	r := make([]replication.Value, len(rel.Columns))
	for name, v := range vals {
		i := rel.ColumnIndex(name)
		if i < 0 {
			panic("no column " + name)
		}
		switch v {
		case null:
			r[i] = replication.Value{State: replication.ValueNull}
		case toast:
			r[i] = replication.Value{State: replication.ValueUnchanged}
		default:
			r[i] = replication.Value{State: replication.ValueText, Data: []byte(v)}
		}
	}
	return r
}
