package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	walsql "github.com/walcast/walcast/sql"
)

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("migrate", getenv, stderr)
	dbURL := f.string("database-url", "DATABASE_URL", "", "Postgres URL")
	logger := f.logFlags("info")
	if err := f.parse(args); err != nil {
		return err
	}
	if _, err := logger(stderr); err != nil {
		return err
	}
	if *dbURL == "" {
		return usageErrorf("migrate: --database-url (or $DATABASE_URL) is required")
	}
	if err := checkDatabaseURL("--database-url", *dbURL); err != nil {
		return err
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
