package drain

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// The items table of the drain method and a procedure that inserts rows one
// transaction each. A row without its note is about 100 bytes; the note
// pads it to the row size asked for. It is stored uncompressed and in line
// (STORAGE PLAIN), so a 2 KB row reaches the WAL and every consumer as
// 2 KB whatever its content, instead of being compressed or moved to the
// TOAST table depending on how close it is to the 2 KB TOAST threshold.
const (
	setupSQL = `
CREATE TABLE items (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account uuid NOT NULL,
  name text NOT NULL,
  qty int NOT NULL,
  price numeric(12,2) NOT NULL,
  tags text[] NOT NULL,
  meta jsonb NOT NULL,
  active bool NOT NULL,
  created_at timestamptz NOT NULL,
  note text NOT NULL
);
ALTER TABLE items ALTER COLUMN note SET STORAGE PLAIN;
` + harness.GrantAnon + `
GRANT SELECT ON items TO anon;
CREATE PUBLICATION walcast FOR ALL TABLES;
CREATE PROCEDURE insert_items_one_by_one(n int, pad int) LANGUAGE plpgsql AS $$
BEGIN
  FOR g IN 1..n LOOP
    INSERT INTO items (` + itemColumns + `) SELECT ` + itemRow + `, ` + itemNote + `;
    COMMIT;
  END LOOP;
END $$;`
	itemColumns = `account, name, qty, price, tags, meta, active, created_at, note`
	// itemRow is the row for series value g, without its note.
	itemRow = `md5(g::text)::uuid, 'item-' || lpad(g::text, 7, '0'), g % 1000, (g % 100000) / 100.0,
      ARRAY['t' || g % 10, 'bench'], jsonb_build_object('k', g % 100), g % 2 = 0, clock_timestamp()`
	// itemNote is pad characters for row g (none for pad 0).
	itemNote = `rpad(md5(g::text), pad, md5(g::text))`
)

// load is one workload whose WAL every consumer drains.
type load struct {
	family  string // familyRows, familyToast or familyIdentity
	shape   string // "big" or "small" for rows; the kind of change for the others
	table   string // the table changed
	op      string // INSERT, UPDATE or DELETE: every change of the load
	prefill bool   // the rows it changes are inserted before its slot exists
	rowSize int    // bytes per row asked for (docs: of the body)
	rows    int
	desc    string // "1 transaction of 200,000 rows"
	title   string // "200k-row transaction", for target names
}

func (l load) name() string { return fmt.Sprintf("%s, %s B", l.shape, stats.Group(float64(l.rowSize))) }

// subject names the load in a target: "200k-row transaction, ~2,000-byte
// rows".
func (l load) subject() string {
	if l.family == familyToast {
		return l.title
	}
	return fmt.Sprintf("%s, ~%s-byte rows", l.title, stats.Group(float64(l.rowSize)))
}

// drainLoads is every load of a run: both shapes for each row size.
func drainLoads(opt drainOptions) []load {
	var loads []load
	for _, size := range opt.rowSizes {
		if !opt.has(familyRows) {
			break
		}
		loads = append(loads,
			load{family: familyRows, shape: "big", table: "items", op: "INSERT", rowSize: size, rows: opt.bigRows,
				desc:  fmt.Sprintf("1 transaction of %s rows", stats.Group(float64(opt.bigRows))),
				title: fmt.Sprintf("%s-row transaction", thousands(opt.bigRows))},
			load{family: familyRows, shape: "small", table: "items", op: "INSERT", rowSize: size, rows: opt.smallRows,
				desc:  fmt.Sprintf("%s one-row transactions", stats.Group(float64(opt.smallRows))),
				title: fmt.Sprintf("%s one-row transactions", thousands(opt.smallRows))})
	}
	return append(loads, wideLoads(opt)...)
}

// thousands writes 200000 as "200k" (and numbers that are no multiple of
// 1,000 in full).
func thousands(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return stats.Group(float64(n))
}

// drainRun is one load's state: its template slot and the WAL to drain.
type drainRun struct {
	b *drainBench
	load
	tmpl, end string
	firstID   int64
	walBytes  int64
	rowBytes  float64 // average size of the loaded rows, pg_column_size
	loadTime  time.Duration
}

// setup creates the table, publication and procedure and measures the size
// of a row without padding.
func (b *drainBench) setup(ctx context.Context) error {
	if _, err := b.conn.Exec(ctx, setupSQL); err != nil {
		return fmt.Errorf("create items table and publication: %w", err)
	}
	if _, err := b.conn.Exec(ctx, wideSetupSQL); err != nil {
		return fmt.Errorf("create docs and items_full tables: %w", err)
	}
	// g = 1,000,000 has as many digits as the loads' largest values.
	q := `SELECT pg_column_size(ROW(0::bigint, ` + itemRow + `, ''::text)) FROM generate_series(1000000, 1000000) AS g`
	if err := b.conn.QueryRow(ctx, q).Scan(&b.baseRowBytes); err != nil {
		return fmt.Errorf("measure row size: %w", err)
	}
	return nil
}

// loadSQL is the statement that runs the load.
func (d *drainRun) loadSQL() string {
	if d.family != familyRows {
		return d.wideLoadSQL()
	}
	pad := d.pad()
	if d.shape == "small" {
		return fmt.Sprintf("CALL insert_items_one_by_one(%d, %d)", d.rows, pad)
	}
	return fmt.Sprintf("INSERT INTO items (%s) SELECT %s, %s FROM generate_series(1, %d) AS g, (SELECT %d AS pad) AS p",
		itemColumns, itemRow, itemNote, d.rows, pad)
}

// pad is the length of the note that makes an items row rowSize bytes.
func (d *drainRun) pad() int { return max(0, d.rowSize-d.b.baseRowBytes) }

// prepare creates the template slot, runs the load and records the end LSN.
// The caller drops the template slot once prepare succeeded.
func (d *drainRun) prepare(ctx context.Context) (err error) {
	conn := d.b.conn
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(id), 0) + 1 FROM "+d.table).Scan(&d.firstID); err != nil {
		return fmt.Errorf("read the next id of %s: %w", d.table, err)
	}
	if d.prefill {
		fmt.Fprintf(os.Stderr, "inserting the %s rows that %s changes ...\n", stats.Group(float64(d.rows)), d.name())
		if _, err := conn.Exec(ctx, d.prefillSQL()); err != nil {
			return fmt.Errorf("insert the rows to change: %w", err)
		}
		// Measured now: a delete leaves none.
		if err := conn.QueryRow(ctx, rowSizeSQL(d.table), d.firstID, d.firstID+999).Scan(&d.rowBytes); err != nil {
			return fmt.Errorf("measure the rows to change: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", d.tmpl); err != nil {
		return fmt.Errorf("create template slot: %w", err)
	}
	defer func() {
		if err != nil {
			_ = harness.DropSlot(context.WithoutCancel(ctx), conn, d.tmpl)
		}
	}()
	var start string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&start); err != nil {
		return fmt.Errorf("read start LSN: %w", err)
	}
	if _, err := conn.Exec(ctx, "SET synchronous_commit = off"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loading %s: %s ...\n", d.name(), d.desc)
	began := time.Now()
	if _, err := conn.Exec(ctx, d.loadSQL()); err != nil {
		return fmt.Errorf("run load: %w", err)
	}
	d.loadTime = time.Since(began)
	err = conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::text::pg_lsn)::bigint", start).Scan(&d.end, &d.walBytes)
	if err != nil {
		return fmt.Errorf("read end LSN: %w", err)
	}
	if !d.prefill {
		if err := conn.QueryRow(ctx, rowSizeSQL(d.table), d.firstID, d.firstID+999).Scan(&d.rowBytes); err != nil {
			return fmt.Errorf("measure loaded rows: %w", err)
		}
	}
	// With synchronous_commit=off the last commits reach disk within
	// wal_writer_delay; walsenders decode flushed WAL only, so no run may
	// start before.
	deadline := time.Now().Add(time.Minute)
	for {
		var flushed bool
		if err := conn.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn() >= $1::text::pg_lsn", d.end).Scan(&flushed); err != nil {
			return fmt.Errorf("read flush LSN: %w", err)
		}
		if flushed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("WAL not flushed up to %s after a minute", d.end)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
