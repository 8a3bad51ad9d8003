package demo

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed table.sql
var tableSQL string

// Execer runs the SQL that creates the demo table; a *pgxpool.Pool is one.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// CreateTable creates public.demo_items with a few rows unless it exists;
// an existing table, and its rows, are left as they are.
func CreateTable(ctx context.Context, db Execer) error {
	if _, err := db.Exec(ctx, tableSQL); err != nil {
		return fmt.Errorf("create the demo table public.demo_items: %w", err)
	}
	return nil
}
