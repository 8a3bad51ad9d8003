package replication

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestDefaultPublicationKeepsApplicationWorking: started with its
// defaults (every table) on a database with a table without a primary
// key, the stream publishes the other tables only, and the application's
// UPDATE and DELETE of that table still succeed.
func TestDefaultPublicationKeepsApplicationWorking(t *testing.T) {
	url, conn := newDatabase(t, `
		CREATE TABLE logs (line text);
		INSERT INTO logs VALUES ('a'), ('b');
		CREATE TABLE items (id int PRIMARY KEY, name text);
		CREATE TABLE events (at timestamptz, what text);
		ALTER TABLE events REPLICA IDENTITY FULL`)
	c := newCollector()
	startStream(t, url, Config{Publication: "walcast_defaults", AddTables: true}, c)
	exec(t, conn, "UPDATE logs SET line = 'c' WHERE line = 'a'")
	exec(t, conn, "DELETE FROM logs WHERE line = 'b'")
	rows, err := conn.Query(context.Background(),
		"SELECT tablename::text FROM pg_publication_tables WHERE pubname = 'walcast_defaults' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"events", "items"}; !slices.Equal(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
	exec(t, conn, "INSERT INTO items VALUES (1, 'x')")
	c.wait(t, 1, 30*time.Second)
}

// TestDefaultPublicationAllTables: with every table usable, the default
// publication is FOR ALL TABLES, so tables created later are streamed too.
func TestDefaultPublicationAllTables(t *testing.T) {
	url, conn := newDatabase(t, `CREATE TABLE items (id int PRIMARY KEY)`)
	startStream(t, url, Config{Publication: "walcast_defaults", AddTables: true}, newCollector())
	var all bool
	if err := conn.QueryRow(context.Background(), "SELECT puballtables FROM pg_publication WHERE pubname = 'walcast_defaults'").Scan(&all); err != nil || !all {
		t.Errorf("FOR ALL TABLES: %v (%v), want true", all, err)
	}
}
