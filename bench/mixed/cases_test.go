package mixed

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
)

// TestMixedFiltersMatchTheirRowsOnly runs every case's filters through
// walcast's filter index on rows made as the load makes them: each row
// matches exactly the subscription it is for, so every case has the eq
// case's deliveries.
func TestMixedFiltersMatchTheirRowsOnly(t *testing.T) {
	const subs, tables, rows = 40, 4, 400
	col := func(name, typ string, oid uint32, key bool) replication.Column {
		return replication.Column{Name: name, TypeName: typ, Key: key, Codec: replication.CodecFor(oid, false)}
	}
	for _, c := range cases(tables) {
		rels := make([]*replication.Relation, c.tables)
		ix := filter.NewIndex()
		for i := range rels {
			rels[i] = &replication.Relation{ID: uint32(16384 + i), Schema: "public", Table: tableName(i), Columns: []replication.Column{
				col("id", "int8", pgtype.Int8OID, true), col("sub", "int4", pgtype.Int4OID, false), col("region", "int4", pgtype.Int4OID, false),
				col("score", "int4", pgtype.Int4OID, false), col("status", "text", pgtype.TextOID, false),
			}}
			ix.Bind(rels[i])
		}
		for v := range subs {
			err := ix.Add(filter.Subscription{ID: uint64(v + 1), Events: filter.EventInsert, Table: c.tableOf(v), Filter: c.filterOf(v, subs)}, nil)
			if err != nil {
				t.Fatalf("%s: subscription %d: %v", c.name, v, err)
			}
		}
		text := func(n int) replication.Value {
			return replication.Value{State: replication.ValueText, Data: []byte(strconv.Itoa(n))}
		}
		p := makePlan(c, subs, rows, 7)
		got := make([]int, subs)
		for _, tx := range p.txs {
			for j := tx.from; j <= tx.to; j++ {
				// As insertSQL makes row j of table tx.table.
				sub := tx.table + c.tables*(j%(subs/c.tables))
				status := replication.Value{State: replication.ValueText, Data: []byte([]string{"open", "held", "done"}[j%3])}
				ch := &replication.Change{Relation: rels[tx.table], Kind: replication.Insert,
					New: []replication.Value{text(j), text(sub), text(j % 7), text(j % 100), status}}
				ids := ix.Match(ch, nil)
				if want := []uint64{uint64(sub + 1)}; !slices.Equal(ids, want) {
					t.Fatalf("%s: row %d of %s (sub %d) matches %v, want %v", c.name, j, tableName(tx.table), sub, ids, want)
				}
				got[sub]++
			}
		}
		if !slices.Equal(got, p.want) {
			t.Errorf("%s: rows per subscription %v, plan says %v", c.name, got, p.want)
		}
	}
}

func TestMakePlan(t *testing.T) {
	c := tableCase{tables: 3}
	p := makePlan(c, 6, 50, 4)
	total, n := 0, 0
	for _, w := range p.want {
		total += w
	}
	for i, tx := range p.txs {
		if tx.table != i%3 || tx.to-tx.from+1 > 4 {
			t.Errorf("tx %d: %+v", i, tx)
		}
		n += tx.to - tx.from + 1
	}
	if total != 50 || n != 50 {
		t.Errorf("plan rows %d, wanted %d, want 50 each", n, total)
	}
	// Table 0 has transactions 0, 3, 6, 9 and the last, of 2 rows: 18 rows.
	if fmt.Sprint(p.want) != "[9 8 8 9 8 8]" {
		t.Errorf("rows per subscription %v", p.want)
	}
}

// TestTargets: a case, or the reference, with a run that
// missed rows gives no ratio; complete runs give the ratio of medians.
func TestTargets(t *testing.T) {
	cs := cases(10)
	meas := func(run int, name string, cpuMs, p99ms int64) measurement {
		m := measurement{run: run, name: name, rows: 100, delivered: 100, wall: time.Second, serverCPU: time.Duration(cpuMs) * time.Millisecond}
		for range 100 {
			m.hist.Record(p99ms * 1000)
		}
		return m
	}
	var ms []measurement
	for _, c := range cs {
		ms = append(ms, meas(1, c.name, 100, 2))
	}
	ms[1].serverCPU = 120 * time.Millisecond // mixed, 1 table: 1.2×
	ms[2].serverCPU = 200 * time.Millisecond // eq, 10 tables: 2×
	ms[3].delivered = 90                     // mixed, 10 tables: rows missing
	ts := mixedReport{opt: mixedOptions{subs: 1000, tables: 10}, ms: ms}.targets()
	if len(ts) != 6 {
		t.Fatalf("%d targets, want 6", len(ts))
	}
	for i, want := range []struct {
		ratio float64
		met   bool
	}{{1.2, true}, {1, true}, {2, false}, {1, true}, {0, false}, {0, false}} {
		if ts[i].Ratio != want.ratio || ts[i].Met != want.met {
			t.Errorf("target %d %q: %+v, want ratio %v met %v", i, ts[i].Name, ts[i], want.ratio, want.met)
		}
	}
	if !strings.HasPrefix(ts[4].Measured, "no figure: mixed filters, 10 tables: 1 of 1 runs did not deliver every row") {
		t.Errorf("incomplete case: %q", ts[4].Measured)
	}
	var out bytes.Buffer
	mixedReport{opt: mixedOptions{subs: 1000, tables: 10, perConn: 100, PacedOptions: harness.PacedOptions{Runs: 1}}, ms: ms}.write(&out)
	if !strings.Contains(out.String(), "| mixed filters, 10 tables | 0 of 1 | — |") {
		t.Errorf("the table gives figures for a case that missed rows:\n%s", out.String())
	}
}

func TestParseMixedFlags(t *testing.T) {
	if opt, err := parseMixedFlags([]string{"--quick"}); err != nil || opt.Rows != 4000 || opt.Runs != 1 {
		t.Errorf("--quick: %+v %v", opt, err)
	}
	for _, bad := range [][]string{{"--subs", "150"}, {"--tables", "1"}, {"--channels-per-conn", "101"}, {"--rate", "0"}} {
		if _, err := parseMixedFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
