package authz

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Table names a table.
type Table struct{ Schema, Name string }

func (t Table) String() string { return t.Schema + "." + t.Name }

// TableAccess is what a role may do with a table, as Postgres says at the
// time of the call.
type TableAccess struct {
	Table Table
	// CanSelect: the role may read at least one column (a table-wide or a
	// column GRANT of SELECT).
	CanSelect bool
	// Columns the role may read, in table order; record and old_record
	// keep only these.
	Columns []string
	// PrimaryKey columns in key order; empty for a table without one.
	PrimaryKey []string
	// PrimaryKeyReadable: the role may read every primary key column.
	PrimaryKeyReadable bool
	// RowSecurity: row security is enabled on the table (relrowsecurity).
	RowSecurity bool
	// ForceRowSecurity: it applies to the owner too (relforcerowsecurity).
	ForceRowSecurity bool
	// Bypass: row security does not apply to this role: the service role,
	// a superuser, a BYPASSRLS role, or (unless forced) the owner.
	Bypass bool
}

// Err is Supabase's refusal of a postgres_changes subscription to the
// table, or nil: "Error 400: Bad Request, no primary key" for a table
// without one, "Error 401: Unauthorized" for a role that cannot read it or
// its primary key.
func (t *TableAccess) Err() error {
	switch {
	case len(t.PrimaryKey) == 0:
		return errNoPrimaryKey
	case !t.CanSelect || !t.PrimaryKeyReadable:
		return errUnauthorized
	}
	return nil
}

// RowChecked reports whether each INSERT and UPDATE must pass VisibleKeys
// before it reaches this role (and each DELETE's old_record be cut to the
// primary key): row security is on and the role does not bypass it.
func (t *TableAccess) RowChecked() bool { return t.RowSecurity && !t.Bypass }

// SubscribeError is a subscription refused with Supabase's text.
type SubscribeError struct{ Text string }

func (e *SubscribeError) Error() string { return e.Text }

var (
	errNoPrimaryKey = &SubscribeError{"Error 400: Bad Request, no primary key"}
	errUnauthorized = &SubscribeError{"Error 401: Unauthorized"}
)

// tableInfo are a table's catalog facts that VisibleKeys needs.
type tableInfo struct {
	pk    []string // primary key columns, in key order
	query string   // the VisibleKeys query; "" without a primary key
}

// accessQuery reads, for role $1 and the tables named by $2 (schemas) and
// $3 (names), everything TableAccess reports, in one round trip.
const accessQuery = `
SELECT t.i, c.relrowsecurity, c.relforcerowsecurity,
       pg_catalog.has_any_column_privilege(r.oid, c.oid, 'SELECT'),
       pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE'),
       r.rolsuper OR r.rolbypassrls,
       coalesce((SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum)
                 FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND pg_catalog.has_column_privilege(r.oid, c.oid, a.attnum, 'SELECT')), '{}'),
       coalesce(pk.cols, '{}'), coalesce(pk.types, '{}'), coalesce(pk.readable, false)
FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[])) WITH ORDINALITY AS t(schema, name, i)
JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.name AND c.relkind IN ('r', 'p')
CROSS JOIN (SELECT oid, rolsuper, rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = $1) r
LEFT JOIN LATERAL (
    SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.ord) AS cols,
           pg_catalog.array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY k.ord) AS types,
           pg_catalog.bool_and(pg_catalog.has_column_privilege(r.oid, c.oid, a.attnum, 'SELECT')) AS readable
    FROM pg_catalog.pg_index x
    CROSS JOIN LATERAL pg_catalog.unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
    WHERE x.indrelid = c.oid AND x.indisprimary
) pk ON true`

// TableAccess reports what role may do with each of tables, in their
// order. An unknown role is a *RoleError (ErrUnknownRole); an unknown table
// wraps ErrUnknownTable. It also refreshes the catalog facts VisibleKeys
// uses for these tables.
func (a *Authorizer) TableAccess(ctx context.Context, role string, tables []Table) ([]TableAccess, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
	defer cancel()
	var exists bool
	if err := a.cfg.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
		return nil, fmt.Errorf("authz: look up role %q: %w", role, err)
	}
	if !exists {
		return nil, &RoleError{role}
	}
	schemas, names := make([]string, len(tables)), make([]string, len(tables))
	for i, t := range tables {
		schemas[i], names[i] = t.Schema, t.Name
	}
	rows, err := a.cfg.Pool.Query(ctx, accessQuery, role, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("authz: read privileges of role %q: %w", role, err)
	}
	out := make([]TableAccess, len(tables))
	found := make([]bool, len(tables))
	var (
		i                 int64
		owner, superOrBRL bool
		pkTypes           []string
	)
	for rows.Next() {
		var ta TableAccess
		if err := rows.Scan(&i, &ta.RowSecurity, &ta.ForceRowSecurity, &ta.CanSelect, &owner, &superOrBRL,
			&ta.Columns, &ta.PrimaryKey, &pkTypes, &ta.PrimaryKeyReadable); err != nil {
			rows.Close()
			return nil, fmt.Errorf("authz: read privileges of role %q: %w", role, err)
		}
		ta.Table = tables[i-1]
		ta.Bypass = role == a.cfg.ServiceRole || superOrBRL || (owner && !ta.ForceRowSecurity)
		out[i-1], found[i-1] = ta, true
		a.remember(ta.Table, ta.PrimaryKey, pkTypes)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("authz: read privileges of role %q: %w", role, err)
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("authz: table %s: %w", tables[i], ErrUnknownTable)
		}
	}
	return out, nil
}

// remember keeps a table's key and builds its VisibleKeys query.
func (a *Authorizer) remember(t Table, pk, types []string) {
	info := &tableInfo{pk: pk}
	if len(pk) > 0 {
		info.query = visibleQuery(t, pk, types)
	}
	a.mu.Lock()
	a.tables[t] = info
	a.mu.Unlock()
}

// visibleQuery returns the ordinals (1-based) of the keys, given as one
// text array per key column ($1, $2, ...), whose row the current role sees:
//
//	SELECT k.i FROM ROWS FROM (unnest($1::text[]::integer[]), unnest($2::text[]::text[])) WITH ORDINALITY AS k(c1, c2, i)
//	CROSS JOIN LATERAL (SELECT FROM "s"."t" AS t WHERE t."a" = k.c1 AND t."b" = k.c2 LIMIT 1) AS r
//
// Keys arrive as text (the replication stream's text format) and are cast
// to each column's type. The LATERAL lookup makes every key one primary
// key index probe, whatever the policy: left to itself the planner may
// scan the rows the policy allows (all of a user's rows) and hash them,
// which costs with the table's size instead of the batch's. The arrays are
// cast before the join, not each value inside it: a cast there is not
// leakproof, so row security would keep it above its own filter and off
// the index.
func visibleQuery(t Table, pk, types []string) string {
	var args, cols, conds []string
	for j, col := range pk {
		args = append(args, fmt.Sprintf("pg_catalog.unnest($%d::text[]::%s[])", j+1, types[j]))
		cols = append(cols, fmt.Sprintf("c%d", j+1))
		conds = append(conds, fmt.Sprintf("t.%s = k.c%d", pgx.Identifier{col}.Sanitize(), j+1))
	}
	return "SELECT k.i FROM ROWS FROM (" + strings.Join(args, ", ") + ") WITH ORDINALITY AS k(" +
		strings.Join(cols, ", ") + ", i) CROSS JOIN LATERAL (SELECT FROM " +
		pgx.Identifier{t.Schema, t.Name}.Sanitize() + " AS t WHERE " + strings.Join(conds, " AND ") + " LIMIT 1) AS r"
}

// info returns the catalog facts of t, reading them when unknown.
func (a *Authorizer) info(ctx context.Context, t Table) (*tableInfo, error) {
	a.mu.Lock()
	info := a.tables[t]
	a.mu.Unlock()
	if info != nil {
		return info, nil
	}
	// Any existing role reads the key; the pool's own will do.
	var role string
	if err := a.cfg.Pool.QueryRow(ctx, "SELECT current_user::text").Scan(&role); err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	if _, err := a.TableAccess(ctx, role, []Table{t}); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tables[t], nil
}

// Forget drops what is known of t, after a schema change (its primary key
// or a key column's type changed). The next check reads the catalog again.
func (a *Authorizer) Forget(t Table) {
	a.mu.Lock()
	delete(a.tables, t)
	a.mu.Unlock()
}
