package filter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/replication"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// pgCol is a column of the differential test table: its SQL type, the
// values rows take and the constants filters use (often spelled differently
// from how Postgres prints the same value).
type pgCol struct {
	name, typ string
	ddl       string // the column's declared type, when not typ
	oid       uint32
	text      bool // like, ilike, match, imatch apply
	values    []string
	consts    []string
}

var diffCols = []pgCol{
	{name: "i4", typ: "int4", oid: pgtype.Int4OID,
		values: []string{"-2147483648", "-5", "-1", "0", "1", "2", "3", "7", "42", "2147483647"},
		consts: []string{"-2147483648", "-1", "0", "1", "2", "3", "7", "42", "2147483647", "007", "+7", " 3", "-0"}},
	{name: "i8", typ: "int8", oid: pgtype.Int8OID,
		values: []string{"-9223372036854775808", "-1", "0", "1", "2", "9007199254740993", "9223372036854775807"},
		consts: []string{"-9223372036854775808", "-1", "0", "0001", "+2", "9007199254740992", "9007199254740993", "9223372036854775807"}},
	{name: "num", typ: "numeric", oid: pgtype.NumericOID,
		values: []string{"0", "1.5", "1.50", "-1.5", "2", "1e2", "0.001", "-0.0", "12345678901234567890.5", "0.30000000000000000001", "NaN", "Infinity", "-Infinity"},
		consts: []string{"0", "-0", "1.5", "1.500", "+1.5", ".5", "1e2", "100.0", "1E-3", "0.3", "-1.5", "12345678901234567890.50", "NaN", "Infinity", "-Infinity"}},
	{name: "f8", typ: "float8", oid: pgtype.Float8OID,
		values: []string{"0", "-0", "1.5", "0.1", "0.30000000000000004", "3", "1e300", "-1e-300", "NaN", "Infinity", "-Infinity"},
		consts: []string{"0", "-0", "1.50", "0.1", ".1", "0.3", "3.0", "2.5", "1e300", "-1E-300", "NaN", "inf", "-Infinity"}},
	{name: "txt", typ: "text", oid: pgtype.TextOID, text: true},
	{name: "vc", typ: "varchar", ddl: "varchar(20)", oid: pgtype.VarcharOID, text: true},
	{name: "bp", typ: "bpchar", ddl: "char(4)", oid: oidBpchar, text: true},
	{name: "b", typ: "bool", oid: pgtype.BoolOID,
		values: []string{"t", "f"},
		consts: []string{"true", "false", "t", "f", "yes", "no", "on", "off", "1", "0", "TRUE", "y", "n"}},
	{name: "u", typ: "uuid", oid: pgtype.UUIDOID,
		values: []string{"00000000-0000-0000-0000-000000000000", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "ffffffff-ffff-ffff-ffff-ffffffffffff", "7fffffff-0000-0000-0000-000000000001"},
		consts: []string{"00000000-0000-0000-0000-000000000000", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11", "80000000-0000-0000-0000-000000000000"}},
	{name: "tstz", typ: "timestamptz", oid: pgtype.TimestamptzOID,
		values: []string{"2024-05-06 01:38:09.5+00", "2024-05-06 03:38:09.5+02", "2024-05-06 01:38:09+00", "2024-05-06 00:00:00+00", "1999-12-31 23:59:59.999999+00", "2024-02-29 12:00:00-05:30", "0044-03-15 12:00:00+00 BC", "infinity", "-infinity"},
		consts: []string{"2024-05-06T01:38:09.5Z", "2024-05-06 01:38:09.500+00:00", "2024-05-06", "2024-05-06 02:38:09.5+01", "1999-12-31T23:59:59.999999", "2024-02-29 17:30", "2000-01-01 00:00:00+00", "0044-03-15 12:00:00+00 BC", "infinity", "-infinity"}},
	{name: "d", typ: "date", oid: pgtype.DateOID,
		values: []string{"2024-05-06", "2024-02-29", "2000-01-01", "1970-01-01", "0001-01-01", "0001-12-31 BC", "infinity", "-infinity"},
		consts: []string{"2024-5-6", "2024-02-29", "2000-01-01", "1970-01-01", "2024-05-07", "0001-12-31 BC", "0004-02-29 BC", "0005-02-29 BC", "infinity", "-infinity"}},
}

// randText makes short strings from an alphabet that exercises LIKE and
// regexp metacharacters, case, a multi-byte letter and newlines.
func randText(rng *rand.Rand) string {
	const alphabet = "aAbB_%.\\ \n"
	var b strings.Builder
	for range rng.IntN(5) {
		if rng.IntN(12) == 0 {
			b.WriteString("é")
			continue
		}
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

func TestDifferentialPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, err := pgx.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	// The settings under which the replication stream prints values.
	cfg.RuntimeParams["timezone"] = "UTC"
	cfg.RuntimeParams["extra_float_digits"] = "1"
	cfg.RuntimeParams["datestyle"] = "ISO"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	rng := rand.New(rand.NewPCG(7, 11))
	rel := loadDiffTable(ctx, t, conn, rng)
	rows := readDiffRows(ctx, t, conn, rel)

	ix := NewIndex()
	ix.Bind(rel)
	want := make(map[uint64][]uint64) // row id -> subscriptions Postgres matched
	const filters = 3000
	rejected, matched, nonEmpty := 0, 0, 0
	for sub := uint64(1); sub <= filters; sub++ {
		conds := randConditions(rng)
		filter := Format(conds)
		parsed, err := Parse(filter)
		if err != nil {
			t.Fatalf("Parse(%q) of a rendered filter: %v", filter, err)
		}
		where, args := renderSQL(conds)
		pgIDs, pgErr := queryIDs(ctx, conn, where, args)
		pred, err := Compile(rel, parsed)
		if err != nil && pgErr == nil {
			// Postgres casts constants lazily: check them on their own.
			pgErr = castConstants(ctx, conn, conds)
		}
		switch {
		case err != nil && pgErr != nil:
			rejected++
			continue // both reject the constant
		case err != nil:
			t.Fatalf("Compile(%q): %v\nbut Postgres accepts WHERE %s %q", filter, err, where, args)
		case pgErr != nil:
			t.Fatalf("WHERE %s %q: %v\nbut Compile(%q) accepts it", where, args, pgErr, filter)
		}
		var goIDs []uint64
		for id, r := range rows {
			if pred.Match(r) {
				goIDs = append(goIDs, id)
			}
		}
		slices.Sort(goIDs)
		if !slices.Equal(goIDs, pgIDs) {
			t.Errorf("filter %s\nSQL: WHERE %s %q\nPostgres: %v\nGo:       %v\n%s", filter, where, args, pgIDs, goIDs, describeDiff(rel, rows, pgIDs, goIDs))
			if t.Failed() && sub > 20 {
				t.FailNow()
			}
		}
		for _, id := range pgIDs {
			want[id] = append(want[id], sub)
		}
		matched += len(pgIDs)
		if len(pgIDs) > 0 {
			nonEmpty++
		}
		if err := ix.Add(Subscription{ID: sub, Events: EventInsert, Table: "t", Filter: filter}, nil); err != nil {
			t.Fatalf("Add(%q): %v", filter, err)
		}
	}
	t.Logf("%d filters over %d rows: %d rejected by both, %d matched at least one row, %d matches in all",
		filters, len(rows), rejected, nonEmpty, matched)
	// The index, with its canonical keys, must find the same subscriptions.
	for id, r := range rows {
		got := ix.Match(&replication.Change{Relation: rel, Kind: replication.Insert, New: r}, nil)
		slices.Sort(got)
		if !slices.Equal(got, want[id]) {
			t.Errorf("row %d: Index.Match = %v\nPostgres: %v", id, got, want[id])
		}
	}
}

func loadDiffTable(ctx context.Context, t *testing.T, conn *pgx.Conn, rng *rand.Rand) *replication.Relation {
	t.Helper()
	cols := []string{`id int4 PRIMARY KEY`}
	rel := &replication.Relation{ID: 1, Schema: "public", Table: "t", Columns: []replication.Column{
		{Name: "id", TypeOID: pgtype.Int4OID, TypeName: "int4", Key: true, Codec: replication.CodecFor(pgtype.Int4OID, false)},
	}}
	for _, c := range diffCols {
		ddl := c.typ
		if c.ddl != "" {
			ddl = c.ddl
		}
		def := fmt.Sprintf("%q %s", c.name, ddl)
		if c.text {
			def += ` COLLATE "C"` // walcast compares text in byte order
		}
		cols = append(cols, def)
		rel.Columns = append(rel.Columns, replication.Column{Name: c.name, TypeOID: c.oid, TypeName: c.typ, Codec: replication.CodecFor(c.oid, false)})
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t ("+strings.Join(cols, ", ")+")"); err != nil {
		t.Fatal(err)
	}
	var ph []string
	for i, c := range diffCols {
		ph = append(ph, fmt.Sprintf("$%d::text::%s", i+2, c.typ))
	}
	insert := "INSERT INTO t VALUES ($1, " + strings.Join(ph, ", ") + ")"
	for id := 1; id <= 250; id++ {
		args := []any{id}
		for _, c := range diffCols {
			var v *string
			if rng.IntN(7) != 0 {
				s := randText(rng)
				if !c.text {
					s = c.values[rng.IntN(len(c.values))]
				}
				v = &s
			}
			args = append(args, v)
		}
		if _, err := conn.Exec(ctx, insert, args...); err != nil {
			t.Fatalf("insert row %d: %v", id, err)
		}
	}
	return rel
}

// readDiffRows reads every row back as the text the type's output function
// prints, the form the replication stream delivers. (format, not ::text:
// bool::text is "true" where boolout prints "t".)
func readDiffRows(ctx context.Context, t *testing.T, conn *pgx.Conn, rel *replication.Relation) map[uint64][]replication.Value {
	t.Helper()
	var sel []string
	for _, c := range rel.Columns {
		sel = append(sel, fmt.Sprintf("CASE WHEN %[1]q IS NOT NULL THEN format('%%s', %[1]q) END", c.Name))
	}
	res, err := conn.Query(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM t")
	if err != nil {
		t.Fatal(err)
	}
	rows := make(map[uint64][]replication.Value)
	for res.Next() {
		raw := make([]*string, len(rel.Columns))
		dest := make([]any, len(raw))
		for i := range raw {
			dest[i] = &raw[i]
		}
		if err := res.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		r := make([]replication.Value, len(raw))
		for i, s := range raw {
			if s == nil {
				r[i] = replication.Value{State: replication.ValueNull}
			} else {
				r[i] = replication.Value{State: replication.ValueText, Data: []byte(*s)}
			}
		}
		var id uint64
		fmt.Sscan(*raw[0], &id)
		rows[id] = r
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func queryIDs(ctx context.Context, conn *pgx.Conn, where string, args []any) ([]uint64, error) {
	res, err := conn.Query(ctx, "SELECT id FROM t WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(res, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = uint64(id)
	}
	return out, nil
}

// castConstants evaluates each condition alone over the table, so that no
// other condition spares Postgres casting its constants or compiling its
// pattern.
func castConstants(ctx context.Context, conn *pgx.Conn, conds []Condition) error {
	for _, c := range conds {
		where, args := renderSQL([]Condition{c})
		if _, err := queryIDs(ctx, conn, where, args); err != nil {
			return err
		}
	}
	return nil
}

func describeDiff(rel *replication.Relation, rows map[uint64][]replication.Value, pg, goIDs []uint64) string {
	var b strings.Builder
	in := func(ids []uint64, id uint64) bool { return slices.Contains(ids, id) }
	for id, r := range rows {
		if in(pg, id) == in(goIDs, id) {
			continue
		}
		fmt.Fprintf(&b, "  row %d (postgres %v, go %v):", id, in(pg, id), in(goIDs, id))
		for i, v := range r {
			if v.State == replication.ValueNull {
				fmt.Fprintf(&b, " %s=NULL", rel.Columns[i].Name)
			} else {
				fmt.Fprintf(&b, " %s=%q", rel.Columns[i].Name, v.Data)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
