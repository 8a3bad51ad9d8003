package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
	"github.com/walcast/walcast/tail"
)

// allEvents is tail's default: row changes and TRUNCATE.
const allEvents = filter.EventAll | filter.EventTruncate

func tailCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("tail", getenv, stderr)
	dbURL := f.string("database-url", "DATABASE_URL", "", "Postgres URL (wal_level must be logical)")
	tables := f.list("table", "WALCAST_TAIL_TABLES", "print only this table (schema.table or schema.*); repeatable")
	expr := f.string("filter", "WALCAST_TAIL_FILTER", "", "Supabase filter, e.g. 'status=eq.paid,amount=gt.100'")
	event := f.string("event", "WALCAST_TAIL_EVENT", "all", "INSERT, UPDATE, DELETE, TRUNCATE, * (row events) or all")
	slot := f.string("slot", "WALCAST_TAIL_SLOT", "", "permanent slot to resume from on the next run (default: a temporary slot)")
	after := f.string("after", "WALCAST_TAIL_AFTER", "", "skip changes up to and including this cursor")
	count := f.int("count", "WALCAST_TAIL_COUNT", 0, "exit after printing this many changes (0: no limit)")
	pub := f.string("publication", "WALCAST_PUBLICATION", "walcast", "publication to stream (created for --table, or all tables, when missing)")
	int8s := f.bool("int8-as-string", "WALCAST_INT8_AS_STRING", false, "render int8 values as JSON strings")
	numerics := f.bool("numeric-as-string", "WALCAST_NUMERIC_AS_STRING", false, "render numeric values as JSON strings")
	logger := f.logFlags("warn")
	if err := f.parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return usageErrorf("tail: --database-url (or $DATABASE_URL) is required")
	}
	if err := checkDatabaseURL("--database-url", *dbURL); err != nil {
		return err
	}
	if *expr != "" && (len(*tables) != 1 || strings.HasSuffix((*tables)[0], "*")) {
		return usageErrorf("tail: --filter needs exactly one --table naming a table (schema.table), since a filter is checked against its columns")
	}
	log, err := logger(stderr)
	if err != nil {
		return err
	}
	cfg := replication.Config{DatabaseURL: *dbURL, Publication: *pub, Slot: *slot, Logger: log, ApplicationName: "walcast-tail"}
	if *after != "" {
		if cfg.StartAfter, err = replication.ParseCursor(*after); err != nil {
			return usageError{err}
		}
	}
	var specs []replication.TableSpec
	for _, t := range *tables {
		spec, err := replication.ParseTableSpec(t)
		if err != nil {
			return usageError{err}
		}
		specs = append(specs, spec)
	}
	cfg.Tables = specs
	events := allEvents
	if *event != "all" {
		if events, err = filter.ParseEvent(*event); err != nil {
			return usageError{err}
		}
	}
	// The stream retries lost connections for ever; a first connection
	// that fails is a wrong URL, role or database, or a server that is
	// not there, and retrying would only hide it.
	if err := probeReplication(ctx, *dbURL); err != nil {
		return err
	}
	index, err := tailIndex(ctx, *dbURL, specs, *expr, events)
	if err != nil {
		return err
	}
	printer := tail.NewPrinter(stdout, index, *count, replication.EncodeOptions{Int8AsString: *int8s, NumericAsString: *numerics})
	stream, err := replication.NewStream(cfg, printer)
	if err != nil {
		return usageError{err}
	}
	return stream.Run(ctx)
}

// probeReplication opens and closes one replication connection, as the
// stream will, and says what failed if it cannot.
func probeReplication(ctx context.Context, dbURL string) error {
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		return usageErrorf("--database-url: %v", redactURL(err, dbURL))
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["application_name"] = "walcast-tail"
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 15*time.Second {
		cfg.ConnectTimeout = 15 * time.Second
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot connect to Postgres for replication (check the host, port, role, password and database in --database-url, and that the role has REPLICATION): %w", err)
	}
	return conn.Close(context.WithoutCancel(ctx))
}

// redactURL keeps a password in the URL out of an error message.
func redactURL(err error, dbURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(dbURL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// tailIndex builds the subscriptions tail prints. Filters on named tables are
// compiled against the catalog before streaming starts, so an unknown
// column or a malformed value is reported at once.
func tailIndex(ctx context.Context, dbURL string, specs []replication.TableSpec, expr string, events filter.EventMask) (*filter.Index, error) {
	if len(specs) == 0 {
		specs = []replication.TableSpec{{Schema: "*", Table: "*"}}
	}
	if len(specs) == 1 && specs[0].Table == "*" && specs[0].Schema == "*" && expr == "" && events == allEvents {
		return nil, nil // everything: no matching needed
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	catalog := replication.NewCatalog(conn)
	index := filter.NewIndex()
	for i, spec := range specs {
		var rel *replication.Relation
		if spec.Table != "*" {
			rel, err = catalog.Relation(ctx, spec.Schema, spec.Table)
			if errors.Is(err, replication.ErrNoSuchTable) {
				return nil, usageErrorf("--table %s: no such table", spec)
			}
			if err != nil {
				return nil, err
			}
		}
		sub := filter.Subscription{ID: uint64(i + 1), Events: events, Schema: spec.Schema, Table: spec.Table, Filter: expr}
		if err := index.Add(sub, rel); err != nil {
			return nil, usageError{err}
		}
	}
	return index, nil
}
