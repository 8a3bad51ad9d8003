package changes

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/authz"
	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
)

// spec is a binding after Supabase's parse_subscription_params: events as a
// mask, the schema and table it covers (either may be filter.Wildcard) and
// its parsed filter.
type spec struct {
	events        filter.EventMask
	schema, table string
	filter        string
	conds         []filter.Condition
	// Set by checker.check: the published tables the binding covers.
	tables []authz.Table
	// Set by authorization (Config.Authz): what its viewer may read.
	grant *grant
}

// parseBinding reads a binding the way Supabase Realtime does. An empty
// Schema or Table counts as absent: {schema, table}, {schema} (table "*")
// and {table} (schema "public") are accepted; {} is refused.
//
// Unlike Supabase, which ignores the filter of a binding without a table,
// the filter of {schema, filter} is applied to every table of the schema:
// delivering rows the client filtered out would be the bigger surprise.
// The filter must keep within lim.
func parseBinding(b Binding, lim filter.Limits) (spec, error) {
	s := spec{events: parseEvent(b.Event), schema: b.Schema, table: b.Table, filter: b.Filter}
	switch {
	case b.Schema != "" && b.Table != "":
	case b.Schema != "":
		s.table = filter.Wildcard
	case b.Table != "":
		s.schema = "public"
	default:
		//lint:ignore ST1005 Supabase's text, which clients match
		return s, fmt.Errorf("No subscription params provided. Please provide at least a `schema` or `table` to subscribe to: %s", s.describe())
	}
	conds, err := filter.ParseLimited(b.Filter, lim)
	if err != nil {
		return s, err
	}
	s.conds = conds
	return s, nil
}

// parseEvent maps "*" and INSERT, UPDATE, DELETE in any case to their mask,
// and anything else to "*", as Supabase does: an unknown event (TRUNCATE
// included) is not an error there, so it is not one here.
func parseEvent(event string) filter.EventMask {
	m, err := filter.ParseEvent(event)
	if err != nil || m&^filter.EventAll != 0 {
		return filter.EventAll
	}
	return m
}

const maxQuotedFilter = 200

// describe renders the binding for error messages, in the bracketed form of
// Supabase's "Unable to subscribe" message.
func (s *spec) describe() string {
	f := s.filter
	if strings.TrimSpace(f) == "" {
		f = "[]"
	}
	if len(f) > maxQuotedFilter {
		// The client sent it: an error need not echo all of it.
		f = strings.ToValidUTF8(f[:maxQuotedFilter], "") + "…"
	}
	return fmt.Sprintf("[event: %s, schema: %s, table: %s, filters: %s]", s.events, s.schema, s.table, f)
}

// checker validates bindings against the database on one pooled
// connection, loading each table once per Subscribe call.
type checker struct {
	conn *pgx.Conn
	cat  *replication.Catalog
	pub  string
	rels map[[2]string]*replication.Relation
}

func newChecker(conn *pgx.Conn, publication string) *checker {
	// The Catalog is dropped, never closed: closing it would close the
	// pooled connection.
	return &checker{conn: conn, cat: replication.NewCatalog(conn), pub: publication, rels: make(map[[2]string]*replication.Relation)}
}

// check verifies that s covers at least one table of the publication and
// that its filter compiles against every table it covers: Supabase creates
// one subscription row per covered table and refuses the binding when any
// of them is refused.
func (c *checker) check(ctx context.Context, s *spec) error {
	rows, err := c.conn.Query(ctx, `SELECT schemaname::text, tablename::text FROM pg_publication_tables
		WHERE pubname = $1 AND ($2 = '*' OR schemaname = $2) AND ($3 = '*' OR tablename = $3)
		ORDER BY 1, 2`, c.pub, s.schema, s.table)
	if err != nil {
		return fmt.Errorf("list published tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var t [2]string
		return t, r.Scan(&t[0], &t[1])
	})
	if err != nil {
		return fmt.Errorf("list published tables: %w", err)
	}
	if len(tables) == 0 {
		return &notPublishedError{desc: s.describe()}
	}
	s.tables = make([]authz.Table, len(tables))
	for i, t := range tables {
		s.tables[i] = authz.Table{Schema: t[0], Name: t[1]}
	}
	if len(s.conds) == 0 {
		return nil
	}
	for _, t := range tables {
		rel := c.rels[t]
		if rel == nil {
			if rel, err = c.cat.Relation(ctx, t[0], t[1]); err != nil {
				return err
			}
			c.rels[t] = rel
		}
		if _, err := filter.Compile(rel, s.conds); err != nil {
			return err
		}
	}
	return nil
}

// notPublishedError is Supabase's message for a binding that matches no
// table of the publication (the table does not exist, or is not published).
type notPublishedError struct{ desc string }

func (e *notPublishedError) Error() string {
	return "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: " + e.desc
}
