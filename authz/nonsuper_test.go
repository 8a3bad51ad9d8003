package authz

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/internal/pgtest"
	walcastsql "github.com/walcast/walcast/sql"
)

// TestNonSuperuser: walcast connected as an ordinary role that is a member
// of the token roles and owns realtime.messages (as when it ran the
// migrations) checks rows and channels as a superuser would; a role it is
// not a member of is an error, not a silent pass.
func TestNonSuperuser(t *testing.T) {
	admin := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := walcastsql.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	setup := append(append([]string{}, policySchema...), channelSchema...)
	setup = append(setup,
		`DO $$ BEGIN
		   IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walcast_test_app') THEN
		     CREATE ROLE walcast_test_app LOGIN PASSWORD 'walcast-test' NOSUPERUSER;
		   END IF;
		 END $$`,
		`GRANT anon, authenticated TO walcast_test_app`,
		`GRANT USAGE ON SCHEMA realtime TO walcast_test_app`,
		`ALTER TABLE realtime.messages OWNER TO walcast_test_app`,
		`INSERT INTO claims_notes VALUES (1, '`+user1+`', 0, 'x'), (2, '`+user2+`', 9, 'y')`,
	)
	for _, q := range setup {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("walcast_test_app", "walcast-test")
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a := New(Config{Pool: pool})

	u1 := identity(t, "authenticated", map[string]any{"sub": user1})
	got, err := a.VisibleKeys(ctx, u1, Table{"public", "claims_notes"}, [][]string{{"1"}, {"2"}})
	if err != nil || !got[0] || got[1] {
		t.Errorf("VisibleKeys as a member = %v, %v; want [true false]", got, err)
	}
	read, err := a.ChannelRead(ctx, u1, Channel{Topic: "room:1", Presence: true})
	if err != nil || !read.BroadcastRead || !read.PresenceRead {
		t.Errorf("ChannelRead = %+v, %v", read, err)
	}
	write, err := a.ChannelWrite(ctx, u1, Channel{Topic: "room:1"})
	if err != nil || !write.BroadcastWrite {
		t.Errorf("ChannelWrite = %+v, %v", write, err)
	}
	// service_role was not granted to walcast_test_app.
	_, err = a.VisibleKeys(ctx, identity(t, "service_role", nil), Table{"public", "claims_notes"}, [][]string{{"1"}})
	if err == nil || !strings.Contains(err.Error(), "permission denied to set role") {
		t.Errorf("VisibleKeys as a role walcast cannot set: %v, want permission denied", err)
	}
}
