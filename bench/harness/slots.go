package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DropSlot drops a slot, waiting for its walsender to release it.
func DropSlot(ctx context.Context, conn *pgx.Conn, slot string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("drop slot %s: %w", slot, err)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond) // object_in_use: still active
	}
}

// HoldSlot makes slot active on a replication connection of ours that never
// reads or confirms anything, until release is called.
func HoldSlot(ctx context.Context, url, slot string) (release func(), err error) {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["application_name"] = "bench-hold"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("hold slot %s: connect: %w", slot, err)
	}
	opts := pglogrepl.StartReplicationOptions{PluginArgs: []string{"proto_version '2'", "publication_names 'walcast'"}}
	if err := pglogrepl.StartReplication(ctx, conn, slot, 0, opts); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("hold slot %s: %w", slot, err)
	}
	released := false
	return func() {
		if !released {
			released = true
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = conn.Close(cctx)
		}
	}, nil
}
