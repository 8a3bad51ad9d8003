package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// WaitForActiveSlot waits until a walsender holds a slot of the database
// named by url that has reached its consistent point, so that changes
// committed afterwards are seen even by a consumer on a temporary slot
// created at connect time. A slot being created is listed as active while
// it still waits for the transactions running at that moment to end: a
// commit then is before its start and never decoded. Its confirmed
// position is set only once it is consistent.
func WaitForActiveSlot(t testing.TB, url string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database() AND active AND confirmed_flush_lsn IS NOT NULL").Scan(&n)
		if err != nil {
			t.Fatalf("pgtest: list slots: %v", err)
		}
		if n > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("pgtest: no active replication slot after 30s")
}
