package authz

import (
	"context"
	"strings"
	"testing"
)

// channelSchema holds policies as Supabase's docs write them: members of a
// room read its broadcast and presence; only members with write access
// send; presence is tracked by members only; one topic is open to anon.
var channelSchema = []string{
	`CREATE TABLE rooms (topic text, user_id uuid, can_write bool, PRIMARY KEY (topic, user_id))`,
	`GRANT SELECT ON rooms TO authenticated`,
	`CREATE POLICY "members read" ON realtime.messages FOR SELECT TO authenticated
	   USING (EXISTS (SELECT 1 FROM rooms r WHERE r.topic = (SELECT realtime.topic()) AND r.user_id = (SELECT auth.uid())))`,
	`CREATE POLICY "writers send" ON realtime.messages FOR INSERT TO authenticated
	   WITH CHECK (extension = 'broadcast' AND EXISTS (SELECT 1 FROM rooms r WHERE r.topic = (SELECT realtime.topic()) AND r.user_id = (SELECT auth.uid()) AND r.can_write))`,
	`CREATE POLICY "members track" ON realtime.messages FOR INSERT TO authenticated
	   WITH CHECK (extension = 'presence' AND EXISTS (SELECT 1 FROM rooms r WHERE r.topic = (SELECT realtime.topic()) AND r.user_id = (SELECT auth.uid())))`,
	`CREATE POLICY "lobby broadcast" ON realtime.messages FOR SELECT TO anon
	   USING ((SELECT realtime.topic()) = 'lobby' AND extension = 'broadcast')`,
	`CREATE POLICY "admins by header" ON realtime.messages FOR SELECT TO authenticated
	   USING ((SELECT realtime.topic()) = 'admin' AND current_setting('request.headers', true)::jsonb ->> 'x-admin' = 'yes')`,
	`INSERT INTO rooms VALUES ('room:1', '` + user1 + `', true), ('room:1', '` + user2 + `', false)`,
}

func TestChannelAccess(t *testing.T) {
	a, pool := newDB(t, channelSchema...)
	ctx := context.Background()
	u1 := identity(t, "authenticated", map[string]any{"sub": user1})
	u2 := identity(t, "authenticated", map[string]any{"sub": user2})
	stranger := identity(t, "authenticated", map[string]any{"sub": "33333333-3333-4333-8333-333333333333"})
	anon := identity(t, "anon", nil)
	service := identity(t, "service_role", nil)
	tests := []struct {
		name      string
		id        Identity
		ch        Channel
		read      ChannelAccess
		write     ChannelAccess
		wantJoin  bool
		wantWrite bool
	}{
		{"member with write", u1, Channel{Topic: "room:1", Presence: true},
			ChannelAccess{BroadcastRead: true, PresenceRead: true}, ChannelAccess{BroadcastWrite: true, PresenceWrite: true}, true, true},
		{"member without write", u2, Channel{Topic: "room:1", Presence: true},
			ChannelAccess{BroadcastRead: true, PresenceRead: true}, ChannelAccess{PresenceWrite: true}, true, false},
		{"presence not checked", u2, Channel{Topic: "room:1"},
			ChannelAccess{BroadcastRead: true}, ChannelAccess{}, true, false},
		{"stranger", stranger, Channel{Topic: "room:1", Presence: true}, ChannelAccess{}, ChannelAccess{}, false, false},
		{"member of another room", u1, Channel{Topic: "room:2", Presence: true}, ChannelAccess{}, ChannelAccess{}, false, false},
		{"anon in the lobby reads broadcast only", anon, Channel{Topic: "lobby", Presence: true}, ChannelAccess{BroadcastRead: true}, ChannelAccess{}, true, false},
		{"anon elsewhere", anon, Channel{Topic: "room:1", Presence: true}, ChannelAccess{}, ChannelAccess{}, false, false},
		{"header policy", u2, Channel{Topic: "admin", Headers: map[string]string{"x-admin": "yes"}}, ChannelAccess{BroadcastRead: true}, ChannelAccess{}, true, false},
		{"header policy, header missing", u2, Channel{Topic: "admin"}, ChannelAccess{}, ChannelAccess{}, false, false},
		{"service role bypasses", service, Channel{Topic: "room:9", Presence: true},
			ChannelAccess{BroadcastRead: true, PresenceRead: true}, ChannelAccess{BroadcastWrite: true, PresenceWrite: true}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			read, err := a.ChannelRead(ctx, tc.id, tc.ch)
			if err != nil {
				t.Fatal(err)
			}
			if read != tc.read || read.CanJoin() != tc.wantJoin {
				t.Errorf("ChannelRead = %+v (join %v), want %+v", read, read.CanJoin(), tc.read)
			}
			write, err := a.ChannelWrite(ctx, tc.id, tc.ch)
			if err != nil {
				t.Fatal(err)
			}
			if write != tc.write || write.BroadcastWrite != tc.wantWrite {
				t.Errorf("ChannelWrite = %+v, want %+v", write, tc.write)
			}
		})
	}
	// Nothing the checks inserted stayed.
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM realtime.messages").Scan(&n); err != nil || n != 0 {
		t.Errorf("realtime.messages holds %d rows after the checks (%v), want 0", n, err)
	}

	// A policy change is seen by the next check (what a new access_token
	// triggers): u2 leaves the room.
	if _, err := pool.Exec(ctx, "DELETE FROM rooms WHERE user_id = $1", user2); err != nil {
		t.Fatal(err)
	}
	if read, err := a.ChannelRead(ctx, u2, Channel{Topic: "room:1", Presence: true}); err != nil || read.CanJoin() {
		t.Errorf("after leaving the room: %+v, %v; want no read", read, err)
	}
	if got, want := ReadDeniedText("room:1"), "Unauthorized: You do not have permissions to read from this Channel topic: room:1"; got != want {
		t.Errorf("ReadDeniedText = %q, want %q", got, want)
	}
}

func TestChannelAccessErrors(t *testing.T) {
	a, _ := newDB(t, channelSchema...)
	ctx := context.Background()
	bad := identity(t, "authenticated", map[string]any{"sub": "not-a-uuid"})
	if _, err := a.ChannelRead(ctx, bad, Channel{Topic: "room:1"}); err == nil || !strings.Contains(err.Error(), "uuid") {
		t.Errorf("ChannelRead with a bad sub: %v, want the policy's error", err)
	}
	if _, err := a.ChannelWrite(ctx, bad, Channel{Topic: "room:1"}); err == nil || !strings.Contains(err.Error(), "uuid") {
		t.Errorf("ChannelWrite with a bad sub: %v, want the policy's error", err)
	}
	if _, err := a.ChannelRead(ctx, identity(t, "nobody_here", nil), Channel{Topic: "room:1"}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("ChannelRead with an unknown role: %v", err)
	}
}
