package drain

import (
	"fmt"

	"github.com/walcast/walcast/bench/stats"
)

// The tables and procedures of the wide-row loads.
//
// docs holds a large text body stored out of line and uncompressed
// (STORAGE EXTERNAL), so every body is TOASTed and reaches the WAL at its
// full size whatever its content. Its updates either leave the body alone
// (pgoutput then sends it as an unchanged TOAST marker, and walcast names
// it in unchanged_toast instead of sending it) or write a new one.
//
// items_full is items with REPLICA IDENTITY FULL: its UPDATE and DELETE
// carry the whole old row in the WAL, and every consumer receives it.
//
// The procedures change ids first to first+n-1 in id order, all in the
// caller's one transaction, so that the consumers' checks can expect the
// ids in sequence.
const wideSetupSQL = `
CREATE TABLE docs (
  id bigint PRIMARY KEY,
  title text NOT NULL,
  version int NOT NULL,
  body text NOT NULL
);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
GRANT SELECT ON docs TO anon;
CREATE TABLE items_full (LIKE items INCLUDING STORAGE);
ALTER TABLE items_full ADD PRIMARY KEY (id), REPLICA IDENTITY FULL;
GRANT SELECT ON items_full TO anon;
CREATE PROCEDURE docs_touch(first bigint, n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR g IN first..first + n - 1 LOOP
    UPDATE docs SET version = version + 1 WHERE id = g;
  END LOOP;
END $$;
CREATE PROCEDURE docs_rewrite(first bigint, n int, size int) LANGUAGE plpgsql AS $$
BEGIN
  FOR g IN first..first + n - 1 LOOP
    UPDATE docs SET version = version + 1, body = rpad(md5((-g)::text), size, md5((-g)::text)) WHERE id = g;
  END LOOP;
END $$;
CREATE PROCEDURE items_full_update(first bigint, n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR g IN first..first + n - 1 LOOP
    UPDATE items_full SET qty = qty + 1 WHERE id = g;
  END LOOP;
END $$;
CREATE PROCEDURE items_full_delete(first bigint, n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR g IN first..first + n - 1 LOOP
    DELETE FROM items_full WHERE id = g;
  END LOOP;
END $$;`

// The load families: the items inserts of every row size and shape, the
// TOASTed docs rows and the REPLICA IDENTITY FULL changes.
const (
	familyRows     = "rows"
	familyToast    = "toast"
	familyIdentity = "identity"
)

// allFamilies is the default of --loads.
var allFamilies = []string{familyRows, familyToast, familyIdentity}

// wideLoads are the loads of the toast and identity families asked for:
// each one transaction of rows changes, in this order.
func wideLoads(opt drainOptions) []load {
	var loads []load
	kb := stats.Group(float64(opt.toastSize) / 1000)
	n := thousands(opt.wideRows)
	if opt.has(familyToast) {
		loads = append(loads,
			load{family: familyToast, shape: "toast insert", table: "docs", op: "INSERT", rowSize: opt.toastSize, rows: opt.wideRows,
				desc:  fmt.Sprintf("1 transaction inserting %s docs rows with a %s KB TOASTed body", stats.Group(float64(opt.wideRows)), kb),
				title: fmt.Sprintf("%s inserts of %s KB TOASTed rows", n, kb)},
			load{family: familyToast, shape: "toast update, body unchanged", table: "docs", op: "UPDATE", rowSize: opt.toastSize, rows: opt.wideRows, prefill: true,
				desc:  fmt.Sprintf("1 transaction updating the version of %s docs rows, leaving their %s KB TOASTed body unchanged", stats.Group(float64(opt.wideRows)), kb),
				title: fmt.Sprintf("%s updates leaving a %s KB TOASTed body unchanged", n, kb)},
			load{family: familyToast, shape: "toast update, body changed", table: "docs", op: "UPDATE", rowSize: opt.toastSize, rows: opt.wideRows, prefill: true,
				desc:  fmt.Sprintf("1 transaction updating %s docs rows with a new %s KB TOASTed body", stats.Group(float64(opt.wideRows)), kb),
				title: fmt.Sprintf("%s updates writing a new %s KB TOASTed body", n, kb)})
	}
	if opt.has(familyIdentity) {
		size := opt.rowSizes[len(opt.rowSizes)-1]
		rows := opt.identityRows
		loads = append(loads,
			load{family: familyIdentity, shape: "replica identity full update", table: "items_full", op: "UPDATE", rowSize: size, rows: rows, prefill: true,
				desc:  fmt.Sprintf("1 transaction updating qty of %s items_full rows (REPLICA IDENTITY FULL: the old row too)", stats.Group(float64(rows))),
				title: fmt.Sprintf("%s REPLICA IDENTITY FULL updates", thousands(rows))},
			load{family: familyIdentity, shape: "replica identity full delete", table: "items_full", op: "DELETE", rowSize: size, rows: rows, prefill: true,
				desc:  fmt.Sprintf("1 transaction deleting %s items_full rows (REPLICA IDENTITY FULL: the whole old row)", stats.Group(float64(rows))),
				title: fmt.Sprintf("%s REPLICA IDENTITY FULL deletes", thousands(rows))})
	}
	return loads
}

// docsBody is the body of docs row g (size characters, out of line).
const docsBody = `rpad(md5(g::text), size, md5(g::text))`

// prefillSQL inserts the rows an update or delete load changes, ids
// firstID on, before its slot exists.
func (d *drainRun) prefillSQL() string {
	switch d.table {
	case "docs":
		return fmt.Sprintf(`INSERT INTO docs (id, title, version, body) SELECT g, 'doc-' || g, 1, %s FROM generate_series(%d, %d) AS g, (SELECT %d AS size) AS s`,
			docsBody, d.firstID, d.firstID+int64(d.rows)-1, d.rowSize)
	default: // items_full
		return fmt.Sprintf(`INSERT INTO items_full (id, %s) SELECT g, %s, %s FROM generate_series(%d, %d) AS g, (SELECT %d AS pad) AS p`,
			itemColumns, itemRow, itemNote, d.firstID, d.firstID+int64(d.rows)-1, d.pad())
	}
}

// wideLoadSQL is the statement of a toast or identity load.
func (d *drainRun) wideLoadSQL() string {
	switch d.shape {
	case "toast insert":
		return fmt.Sprintf(`INSERT INTO docs (id, title, version, body) SELECT g, 'doc-' || g, 1, %s FROM generate_series(%d, %d) AS g, (SELECT %d AS size) AS s`,
			docsBody, d.firstID, d.firstID+int64(d.rows)-1, d.rowSize)
	case "toast update, body unchanged":
		return fmt.Sprintf("CALL docs_touch(%d, %d)", d.firstID, d.rows)
	case "toast update, body changed":
		return fmt.Sprintf("CALL docs_rewrite(%d, %d, %d)", d.firstID, d.rows, d.rowSize)
	case "replica identity full update":
		return fmt.Sprintf("CALL items_full_update(%d, %d)", d.firstID, d.rows)
	default: // replica identity full delete
		return fmt.Sprintf("CALL items_full_delete(%d, %d)", d.firstID, d.rows)
	}
}

// rowSizeSQL is the average size of a loaded row of the table, ids from
// $1 to $2: for docs with its body counted at full length, not as the
// TOAST pointer the heap holds.
func rowSizeSQL(table string) string {
	if table == "docs" {
		return "SELECT avg(pg_column_size(t.*) - pg_column_size(t.body) + octet_length(t.body))::float8 FROM docs t WHERE id BETWEEN $1 AND $2"
	}
	return "SELECT avg(pg_column_size(t.*))::float8 FROM " + table + " t WHERE id BETWEEN $1 AND $2"
}
