package authz

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Channel is a private channel being authorized.
type Channel struct {
	Topic string // the channel's name without "realtime:", as realtime.topic() returns it
	// Presence: check the presence extension too (Supabase skips it when
	// the channel disables presence).
	Presence bool
	// Headers of the WebSocket upgrade (or REST request), for policies
	// reading request.headers; nil gives {}.
	Headers map[string]string
}

// ChannelAccess is what the policies on realtime.messages allow. A check
// fills only what it asked: ChannelRead the Read fields, ChannelWrite the
// Write fields; an extension not checked stays false.
type ChannelAccess struct {
	BroadcastRead, PresenceRead   bool
	BroadcastWrite, PresenceWrite bool
}

// CanJoin reports whether a read check allows joining, as Supabase decides:
// broadcast or presence may be read.
func (c ChannelAccess) CanJoin() bool { return c.BroadcastRead || c.PresenceRead }

// ReadDeniedText is Supabase's join refusal (and, prefixed with "You no
// longer have permission", its close) for a private topic the token may
// not read.
func ReadDeniedText(topic string) string {
	return "Unauthorized: You do not have permissions to read from this Channel topic: " + topic
}

const setChannelIdentity = `SELECT pg_catalog.set_config('role', $1, true),
       pg_catalog.set_config('realtime.topic', $5, true),
       pg_catalog.set_config('request.jwt.claims', $2, true),
       pg_catalog.set_config('request.jwt.claim.sub', $3, true),
       pg_catalog.set_config('request.jwt.claim.role', $1, true),
       pg_catalog.set_config('request.headers', $6, true),
       pg_catalog.set_config('statement_timeout', $4, true)`

// ChannelRead checks read access as Supabase does at join: in one
// transaction, probe rows (topic, extension) are inserted into
// realtime.messages with walcast's own role, the identity's settings are
// applied, the probes are selected back under the policies, and all is
// rolled back. An extension's probe that comes back means it may be read.
func (a *Authorizer) ChannelRead(ctx context.Context, id Identity, ch Channel) (ChannelAccess, error) {
	var acc ChannelAccess
	headers, err := headersJSON(ch.Headers)
	if err != nil {
		return acc, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
	defer cancel()
	broadcastID, presenceID := newUUID(), newUUID()
	ids := []string{broadcastID}
	probes := "INSERT INTO realtime.messages (id, topic, extension) VALUES ($1::uuid, $2, 'broadcast')"
	args := []any{broadcastID, ch.Topic}
	if ch.Presence {
		ids = append(ids, presenceID)
		probes = "INSERT INTO realtime.messages (id, topic, extension) VALUES ($1::uuid, $2, 'broadcast'), ($3::uuid, $2, 'presence')"
		args = append(args, presenceID)
	}
	conn, err := a.cfg.Pool.Acquire(ctx)
	if err != nil {
		return acc, fmt.Errorf("authz: %w", err)
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(probes, args...)
	b.Queue(setChannelIdentity, id.Role, id.Claims, id.Sub, a.timeoutSetting(), ch.Topic, headers)
	q := b.Queue("SELECT id::text FROM realtime.messages WHERE id = ANY($1::uuid[])", ids)
	b.Queue("ROLLBACK")
	var seen []string
	q.Query(func(rows pgx.Rows) error {
		seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return ChannelAccess{}, fmt.Errorf("authz: check read of topic %q as role %q: %w", ch.Topic, id.Role, err)
	}
	for _, s := range seen {
		acc.BroadcastRead = acc.BroadcastRead || s == broadcastID
		acc.PresenceRead = acc.PresenceRead || s == presenceID
	}
	return acc, nil
}

// ChannelWrite checks write access as Supabase does at the first send or
// track: with the identity's settings, a row (topic, extension) is inserted
// into realtime.messages under the policies, each extension under a
// savepoint; insufficient_privilege (no grant, or a WITH CHECK that fails)
// means no write. All is rolled back.
func (a *Authorizer) ChannelWrite(ctx context.Context, id Identity, ch Channel) (ChannelAccess, error) {
	var acc ChannelAccess
	headers, err := headersJSON(ch.Headers)
	if err != nil {
		return acc, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
	defer cancel()
	tx, err := a.cfg.Pool.Begin(ctx)
	if err != nil {
		return acc, fmt.Errorf("authz: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, setChannelIdentity, id.Role, id.Claims, id.Sub, a.timeoutSetting(), ch.Topic, headers); err != nil {
		return acc, fmt.Errorf("authz: check write of topic %q as role %q: %w", ch.Topic, id.Role, err)
	}
	exts := []string{"broadcast"}
	if ch.Presence {
		exts = append(exts, "presence")
	}
	for _, ext := range exts {
		ok, err := insertAllowed(ctx, tx, ch.Topic, ext)
		if err != nil {
			return ChannelAccess{}, fmt.Errorf("authz: check write of topic %q as role %q: %w", ch.Topic, id.Role, err)
		}
		if ext == "broadcast" {
			acc.BroadcastWrite = ok
		} else {
			acc.PresenceWrite = ok
		}
	}
	return acc, nil
}

func insertAllowed(ctx context.Context, tx pgx.Tx, topic, ext string) (bool, error) {
	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		return false, err
	}
	_, err = sp.Exec(ctx, "INSERT INTO realtime.messages (topic, extension) VALUES ($1, $2)", topic, ext)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		return false, sp.Rollback(ctx)
	}
	if err != nil {
		return false, err
	}
	return true, sp.Rollback(ctx)
}

func headersJSON(h map[string]string) (string, error) {
	if h == nil {
		return "{}", nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("authz: encode headers: %w", err)
	}
	return string(b), nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
