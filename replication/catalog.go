package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// firstNormalOID is Postgres's FirstNormalObjectId: OIDs below it are built in.
const firstNormalOID = 16384

// ErrNoSuchTable is returned by Catalog.Relation for a table that does not exist.
var ErrNoSuchTable = errors.New("no such table")

// Catalog completes relations with facts the pgoutput Relation message lacks
// (type names, the primary key, the base type behind domains and arrays)
// through an ordinary, non-replication connection. It caches type facts.
// It is safe for concurrent use.
type Catalog struct {
	mu    sync.Mutex
	conn  *pgx.Conn
	types map[uint32]typeInfo
}

type typeInfo struct {
	name     string
	typtype  byte   // b base, d domain, e enum, r range, c composite, m multirange, p pseudo
	base     uint32 // typbasetype, for domains
	elem     uint32 // typelem, for arrays
	category byte
	delim    byte
}

// NewCatalog wraps conn, which the Catalog uses exclusively from then on.
func NewCatalog(conn *pgx.Conn) *Catalog {
	return &Catalog{conn: conn, types: make(map[uint32]typeInfo)}
}

// Close closes the connection.
func (c *Catalog) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.Close(ctx)
}

// Relation loads a table by schema and name, with its columns in attnum order.
// It returns an error wrapping ErrNoSuchTable when there is none.
func (c *Catalog) Relation(ctx context.Context, schema, table string) (*Relation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		id       uint32
		identity string
	)
	err := c.conn.QueryRow(ctx, `SELECT c.oid, c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, schema, table).Scan(&id, &identity)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("table %s.%s: %w", schema, table, ErrNoSuchTable)
	}
	if err != nil {
		return nil, fmt.Errorf("look up table %s.%s: %w", schema, table, err)
	}
	raw := rawRelation{ID: id, Schema: schema, Table: table, Identity: identity[0]}
	rows, err := c.conn.Query(ctx, `SELECT attname, atttypid, atttypmod FROM pg_attribute
		WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, id)
	if err != nil {
		return nil, fmt.Errorf("list columns of %s.%s: %w", schema, table, err)
	}
	for rows.Next() {
		var col rawColumn
		if err := rows.Scan(&col.Name, &col.TypeOID, &col.Modifier); err != nil {
			return nil, fmt.Errorf("list columns of %s.%s: %w", schema, table, err)
		}
		raw.Columns = append(raw.Columns, col)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list columns of %s.%s: %w", schema, table, err)
	}
	return c.complete(ctx, &raw)
}

// complete turns a Relation message into a Relation: primary key flags, type
// names and codecs. The caller holds c.mu.
func (c *Catalog) complete(ctx context.Context, raw *rawRelation) (*Relation, error) {
	var pk []string
	err := c.conn.QueryRow(ctx, `SELECT coalesce(array_agg(a.attname::text), '{}') FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1 AND i.indisprimary`, raw.ID).Scan(&pk)
	if err != nil {
		return nil, fmt.Errorf("primary key of %s.%s: %w", raw.Schema, raw.Table, err)
	}
	oids := make([]uint32, 0, len(raw.Columns))
	for _, col := range raw.Columns {
		oids = append(oids, col.TypeOID)
	}
	if err := c.loadTypes(ctx, oids); err != nil {
		return nil, fmt.Errorf("column types of %s.%s: %w", raw.Schema, raw.Table, err)
	}
	rel := &Relation{ID: raw.ID, Schema: raw.Schema, Table: raw.Table, ReplicaIdentity: raw.Identity, Columns: make([]Column, len(raw.Columns))}
	for i, col := range raw.Columns {
		key := col.Identity
		if len(pk) > 0 {
			key = contains(pk, col.Name)
		}
		rel.Columns[i] = Column{Name: col.Name, TypeOID: col.TypeOID, TypeName: c.types[col.TypeOID].name,
			Modifier: col.Modifier, Key: key, Codec: c.codec(col.TypeOID)}
	}
	return rel, nil
}

// loadTypes fetches the type facts of oids and of every type they refer to
// (domain base types, array element types) that are not cached yet.
func (c *Catalog) loadTypes(ctx context.Context, oids []uint32) error {
	for {
		var missing []uint32
		for _, oid := range oids {
			t, ok := c.types[oid]
			switch {
			case !ok:
				missing = append(missing, oid)
			case t.typtype == 'd':
				if _, ok := c.types[t.base]; !ok {
					missing = append(missing, t.base)
				}
			case t.elem != 0 && t.category == 'A':
				if _, ok := c.types[t.elem]; !ok {
					missing = append(missing, t.elem)
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		rows, err := c.conn.Query(ctx, `SELECT oid, typname::text, typtype::text, typbasetype, typelem, typcategory::text, typdelim::text
			FROM pg_type WHERE oid = ANY($1)`, missing)
		if err != nil {
			return err
		}
		found := 0
		for rows.Next() {
			var (
				oid, base, elem          uint32
				name, typ, categ, delims string
			)
			if err := rows.Scan(&oid, &name, &typ, &base, &elem, &categ, &delims); err != nil {
				rows.Close()
				return err
			}
			c.types[oid] = typeInfo{name: name, typtype: typ[0], base: base, elem: elem, category: categ[0], delim: delims[0]}
			found++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if found == 0 {
			// A type dropped concurrently: remember it as unknown text rather than loop.
			for _, oid := range missing {
				c.types[oid] = typeInfo{name: fmt.Sprint(oid), typtype: 'b', category: 'U', delim: ','}
			}
		}
		oids = missing
	}
}

// codec resolves oid through domains and arrays to a built-in base type.
func (c *Catalog) codec(oid uint32) Codec {
	array := false
	delim := byte(',')
	for depth := 0; depth < 32; depth++ {
		t := c.types[oid]
		switch {
		case t.typtype == 'd':
			oid = t.base
			continue
		case !array && t.elem != 0 && t.category == 'A':
			array = true
			oid = t.elem
			continue
		}
		if array && t.delim != 0 {
			delim = t.delim
		}
		base := oid
		if t.typtype != 'b' || oid >= firstNormalOID {
			base = 0 // enums, ranges, composites and extension types render as text
		}
		cd := CodecFor(base, array)
		cd.Delim = delim
		return cd
	}
	return CodecFor(0, array)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
