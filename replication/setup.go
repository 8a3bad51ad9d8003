package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// validName is what walcast accepts for slot and publication names: the
// replication protocol interpolates slot names unquoted.
var validName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// checkServer verifies what logical replication needs before anything is
// created: wal_level, the role's REPLICATION privilege, and (when the slot
// does not exist yet) a free slot and wal sender.
func checkServer(ctx context.Context, conn *pgx.Conn, slot string) error {
	var walLevel string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&walLevel); err != nil {
		return fmt.Errorf("read wal_level: %w", err)
	}
	if walLevel != "logical" {
		return configErrorf("run ALTER SYSTEM SET wal_level = logical; then restart Postgres (wal_level only changes at server start)",
			"wal_level is %q, logical replication needs wal_level = logical", walLevel)
	}
	var role string
	var canReplicate bool
	if err := conn.QueryRow(ctx, "SELECT current_user::text, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&role, &canReplicate); err != nil {
		return fmt.Errorf("read role privileges: %w", err)
	}
	if !canReplicate {
		return configErrorf(fmt.Sprintf("run ALTER ROLE %s WITH REPLICATION; as a superuser", pgx.Identifier{role}.Sanitize()),
			"role %q may not start replication", role)
	}
	if slot == "" {
		return checkFreeSlot(ctx, conn)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", slot).Scan(&exists); err != nil {
		return fmt.Errorf("look up slot %s: %w", slot, err)
	}
	if exists {
		return nil
	}
	return checkFreeSlot(ctx, conn)
}

func checkFreeSlot(ctx context.Context, conn *pgx.Conn) error {
	var used, max int
	err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_replication_slots), current_setting('max_replication_slots')::int`).Scan(&used, &max)
	if err != nil {
		return fmt.Errorf("count replication slots: %w", err)
	}
	if used >= max {
		return configErrorf("drop unused slots (SELECT slot_name, active FROM pg_replication_slots; SELECT pg_drop_replication_slot('name');) or raise max_replication_slots and restart Postgres",
			"no free replication slot: %d of max_replication_slots = %d are in use", used, max)
	}
	return nil
}

// TableSpec selects published tables: "schema.table", "schema.*", or "*" for
// every table.
type TableSpec struct{ Schema, Table string }

// ParseTableSpec parses "schema.table", "schema.*", "table" (schema public) or "*".
func ParseTableSpec(s string) (TableSpec, error) {
	s = strings.TrimSpace(s)
	if s == "*" || s == "*.*" {
		return TableSpec{Schema: "*", Table: "*"}, nil
	}
	schema, table, ok := strings.Cut(s, ".")
	if !ok {
		schema, table = "public", s
	}
	if schema == "" || table == "" || schema == "*" {
		return TableSpec{}, fmt.Errorf("table %q: want schema.table, schema.* or *", s)
	}
	return TableSpec{Schema: schema, Table: table}, nil
}

func (t TableSpec) String() string { return t.Schema + "." + t.Table }

// ensurePublication creates the publication when it is missing (FOR ALL
// TABLES when no tables are given). When it exists, tables missing from it
// are added if add is set and reported otherwise. Tables are never removed:
// a publication may be shared with other tools.
func ensurePublication(ctx context.Context, conn *pgx.Conn, name string, tables []TableSpec, add bool, log *slog.Logger) error {
	var exists, allTables bool
	err := conn.QueryRow(ctx, "SELECT true, puballtables FROM pg_publication WHERE pubname = $1", name).Scan(&exists, &allTables)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("look up publication %s: %w", name, err)
	}
	pub := pgx.Identifier{name}.Sanitize()
	all := len(tables) == 0
	for _, t := range tables {
		all = all || t.Schema == "*"
	}
	if !exists {
		stmt := "CREATE PUBLICATION " + pub + " FOR " + publicationTargets(tables)
		if all {
			var err error
			if stmt, err = allTablesStatement(ctx, conn, pub, log); err != nil {
				return err
			}
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return publicationError(err, name, stmt)
		}
		log.Info("created publication", "publication", name, "statement", stmt)
		return nil
	}
	if allTables || all {
		return nil
	}
	for _, t := range tables {
		var present bool
		q := "SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3)"
		if t.Table == "*" {
			q = "SELECT EXISTS (SELECT 1 FROM pg_publication_namespace pn JOIN pg_publication p ON p.oid = pn.pnpubid JOIN pg_namespace n ON n.oid = pn.pnnspid WHERE p.pubname = $1 AND n.nspname = $2 AND $3 = '*')"
		}
		if err := conn.QueryRow(ctx, q, name, t.Schema, t.Table).Scan(&present); err != nil {
			return fmt.Errorf("look up %s in publication %s: %w", t, name, err)
		}
		if present {
			continue
		}
		stmt := "ALTER PUBLICATION " + pub + " ADD " + publicationTargets([]TableSpec{t})
		if !add {
			return configErrorf("run "+stmt+"; (or pass another publication)", "table %s is not in publication %s", t, name)
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return publicationError(err, name, stmt)
		}
		log.Info("added to publication", "publication", name, "statement", stmt)
	}
	return nil
}

// unusableQuery lists the user tables whose UPDATE and DELETE Postgres
// would refuse once they are published (no primary key and the default
// replica identity, or REPLICA IDENTITY NOTHING), and the usable ones.
const unusableQuery = `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname),
       c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
ORDER BY 1`

// allTablesStatement is the CREATE PUBLICATION of "every table": FOR ALL
// TABLES when every table can be published without breaking the
// application, otherwise FOR the usable tables only: a table without a
// primary key or replica identity in a publication makes its UPDATE and
// DELETE statements fail. It logs what it leaves out and why.
func allTablesStatement(ctx context.Context, conn *pgx.Conn, pub string, log *slog.Logger) (string, error) {
	rows, err := conn.Query(ctx, unusableQuery)
	if err != nil {
		return "", fmt.Errorf("list tables to publish: %w", err)
	}
	var usable, unusable []string
	var name string
	var bad bool
	_, err = pgx.ForEachRow(rows, []any{&name, &bad}, func() error {
		if bad {
			unusable = append(unusable, name)
		} else {
			usable = append(usable, name)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("list tables to publish: %w", err)
	}
	if len(unusable) == 0 {
		return "CREATE PUBLICATION " + pub + " FOR ALL TABLES", nil
	}
	for _, t := range unusable {
		log.Warn("not publishing a table without a primary key or replica identity: publishing it would make its UPDATE and DELETE statements fail",
			"table", t, "to publish it", "ALTER TABLE "+t+" REPLICA IDENTITY FULL; (or add a primary key), then ALTER PUBLICATION "+pub+" ADD TABLE "+t)
	}
	log.Info("publishing the tables that have a primary key or replica identity, not FOR ALL TABLES; tables created later are not published until added",
		"published", len(usable), "left out", len(unusable))
	if len(usable) == 0 {
		return "CREATE PUBLICATION " + pub, nil
	}
	return "CREATE PUBLICATION " + pub + " FOR TABLE " + strings.Join(usable, ", "), nil
}

// publicationTargets renders tables for CREATE/ALTER PUBLICATION. Postgres 15
// accepts TABLE and TABLES IN SCHEMA items in one list.
func publicationTargets(tables []TableSpec) string {
	var items []string
	for _, t := range tables {
		if t.Table == "*" {
			items = append(items, "TABLES IN SCHEMA "+pgx.Identifier{t.Schema}.Sanitize())
		} else {
			items = append(items, "TABLE "+pgx.Identifier{t.Schema, t.Table}.Sanitize())
		}
	}
	return strings.Join(items, ", ")
}

func publicationError(err error, name, stmt string) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not exist"):
		return configErrorf("create the table first, or fix --tables", "publication %s: %v (%s)", name, err, stmt)
	case strings.Contains(msg, "must be superuser") || strings.Contains(msg, "permission denied") || strings.Contains(msg, "must be owner"):
		return configErrorf(fmt.Sprintf("ask a superuser to run %s; (or pass --tables with tables this role owns)", stmt),
			"publication %s cannot be created by this role: %v", name, err)
	}
	return fmt.Errorf("publication %s: %s: %w", name, stmt, err)
}

// checkReplicaIdentity logs every published table whose UPDATE and DELETE
// Postgres will refuse because it has no usable replica identity. Adding such
// a table to a publication makes the application's own writes fail, so the
// message names the statement that fixes it.
func checkReplicaIdentity(ctx context.Context, conn *pgx.Conn, publication string, log *slog.Logger) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT format('%I.%I', pt.schemaname, pt.tablename) FROM pg_publication_tables pt
		JOIN pg_namespace n ON n.nspname = pt.schemaname
		JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
		JOIN pg_publication p ON p.pubname = pt.pubname
		WHERE pt.pubname = $1 AND (p.pubupdate OR p.pubdelete) AND (c.relreplident = 'n'
		   OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))
		ORDER BY 1`, publication)
	if err != nil {
		return nil, fmt.Errorf("check replica identities: %w", err)
	}
	bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("check replica identities: %w", err)
	}
	for _, t := range bad {
		log.Error("published table has no usable replica identity: its UPDATE and DELETE statements fail while it is published",
			"table", t, "fix", "ALTER TABLE "+t+" REPLICA IDENTITY FULL; (or add a primary key)")
	}
	return bad, nil
}
