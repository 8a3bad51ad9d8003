package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/localpg"
	"github.com/walcast/walcast/replication"
	walsql "github.com/walcast/walcast/sql"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	f := newFlags("serve", getenv, stderr)
	dbURL := f.string("database-url", "DATABASE_URL", "", "Postgres URL; empty runs a local cluster under --data-dir")
	dataDir := f.string("data-dir", "WALCAST_DATA_DIR", ".walcast", "where the local cluster lives when no database URL is given")
	localPort := f.int("local-pg-port", "WALCAST_LOCAL_PG_PORT", 54329, "port of the local cluster")
	pub := f.string("publication", "WALCAST_PUBLICATION", "walcast", "publication to stream (created when missing)")
	tables := f.list("tables", "WALCAST_TABLES", "tables to publish: schema.table, schema.* (default: all tables)")
	slot := f.string("slot", "WALCAST_SLOT", defaultSlot(), "permanent replication slot of this node")
	logLevel := f.string("log-level", "WALCAST_LOG_LEVEL", "info", "debug, info, warn or error")
	logFormat := f.string("log-format", "WALCAST_LOG_FORMAT", "text", "text or json")
	if err := f.parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	var specs []replication.TableSpec
	for _, t := range *tables {
		spec, err := replication.ParseTableSpec(t)
		if err != nil {
			return usageError{err}
		}
		specs = append(specs, spec)
	}
	cfg := replication.Config{Publication: *pub, Tables: specs, AddTables: true, Slot: *slot, Logger: log}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}

	url := *dbURL
	if url == "" {
		dir, err := filepath.Abs(filepath.Join(*dataDir, "pgdata"))
		if err != nil {
			return err
		}
		cluster, err := localpg.Start(ctx, localpg.Config{DataDir: dir, Port: *localPort, Logger: log})
		if err != nil {
			return fmt.Errorf("start local Postgres (or set DATABASE_URL): %w", err)
		}
		defer func() {
			if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
				log.Error("stop local Postgres", "error", err)
			}
		}()
		url = cluster.URL("postgres")
		log.Info("local Postgres running", "url", url, "data_dir", dir)
	}
	if err := applyMigrations(ctx, url, io.Discard); err != nil {
		return err
	}
	cfg.DatabaseURL = url
	stream, err := replication.NewStream(cfg, &replication.LogHandler{Log: log})
	if err != nil {
		return usageError{err}
	}
	log.Info("walcast serving", "version", version, "publication", *pub, "slot", *slot)
	for {
		err := stream.Run(ctx)
		if err == nil || ctx.Err() != nil {
			log.Info("stopped")
			return nil
		}
		// A configuration problem is reported and retried slowly: the fix
		// (wal_level, a privilege, a publication) is made in Postgres while
		// the server keeps running.
		log.Error("replication cannot start", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(30 * time.Second):
		}
	}
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("migrate", getenv, stderr)
	dbURL := f.string("database-url", "DATABASE_URL", "", "Postgres URL")
	if err := f.parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return usageErrorf("migrate: --database-url (or $DATABASE_URL) is required")
	}
	return applyMigrations(ctx, *dbURL, stdout)
}

func applyMigrations(ctx context.Context, url string, out io.Writer) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	applied, err := walsql.Apply(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, v := range applied {
		fmt.Fprintln(out, "applied", v)
	}
	if len(applied) == 0 {
		fmt.Fprintln(out, "up to date")
	}
	return nil
}

var slotUnsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// defaultSlot names the slot after the host, so a restarted node resumes
// where it stopped and nodes on different hosts do not share a slot.
func defaultSlot() string {
	host, _ := os.Hostname()
	name := "walcast_" + strings.Trim(slotUnsafe.ReplaceAllString(strings.ToLower(host), "_"), "_")
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "_")
}
