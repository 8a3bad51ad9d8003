package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/client"
)

// getenv returns $key, or def when it is not set.
func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// An app's integration test, with Postgres and walcast in containers: the
// repository's docker-compose.yml (`docker compose up`) gives Postgres on
// 127.0.0.1:54321 and walcast on :4000; a CI job with service containers,
// or testcontainers-go, gives the same two addresses. The test commits rows
// the way the app does and asserts what a subscriber receives. (Inside this
// repository, the client's own tests start Postgres and the server in
// process instead.)
func Example_integrationTest() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL := getenv("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:54321/walcast?sslmode=disable")
	realtimeURL := getenv("WALCAST_URL", "http://localhost:4000")
	secret := getenv("JWT_SECRET", "walcast-local-development-secret-change-me")

	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS todos (id int PRIMARY KEY, title text, owner text)`); err != nil {
		log.Fatal(err)
	}

	// The apikey is a JWT with a role, signed with the server's secret.
	apikey, err := auth.Sign([]byte(secret), map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(ctx, realtimeURL, client.Options{APIKey: apikey})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ch := c.Channel("todos", client.ChannelConfig{})
	inserted := make(chan client.Change, 1)
	ch.OnPostgresChanges(client.PostgresChangesFilter{Event: "INSERT", Table: "todos", Filter: "owner=eq.alice"},
		func(chg client.Change) { inserted <- chg })
	// Subscribe returns once changes committed from now on are delivered,
	// so the test can act right after it without sleeping.
	if err := ch.Subscribe(ctx); err != nil {
		log.Fatal(err)
	}

	// What the app under test does.
	if _, err := db.Exec(ctx, `INSERT INTO todos VALUES (1, 'buy milk', 'alice') ON CONFLICT (id) DO UPDATE SET title = excluded.title`); err != nil {
		log.Fatal(err)
	}

	select {
	case chg := <-inserted:
		var row struct{ Title, Owner string }
		if err := json.Unmarshal(chg.Record, &row); err != nil {
			log.Fatal(err)
		}
		fmt.Println(chg.Type, row.Title, row.Owner)
	case <-ctx.Done():
		log.Fatal("no change arrived")
	}
}

// A service that must not miss a change keeps the cursor of the last one
// it handled and resumes after it; a gap tells it to refetch instead.
func ExampleChannel_OnGap() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "http://localhost:4000", client.Options{APIKey: os.Getenv("WALCAST_APIKEY")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	lastCursor := os.Getenv("LAST_CURSOR") // kept by the service, e.g. in its database
	ch := c.Channel("orders", client.ChannelConfig{ResumeAfter: lastCursor})
	ch.OnPostgresChanges(client.PostgresChangesFilter{Table: "orders"}, func(chg client.Change) {
		// Handle the change, then store chg.Cursor with the result.
	})
	ch.OnGap(func(g client.Gap) {
		log.Printf("changes after %s may be missing (%s): reloading orders", g.After, g.Message)
	})
	if err := ch.Subscribe(ctx); err != nil {
		log.Fatal(err)
	}
}
