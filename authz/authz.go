package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Checker is what the connection layer and the changes dispatcher need,
// without knowing Postgres. *Authorizer implements it; tests of callers may
// use their own.
type Checker interface {
	TableAccess(ctx context.Context, role string, tables []Table) ([]TableAccess, error)
	VisibleKeys(ctx context.Context, id Identity, table Table, keys [][]string) ([]bool, error)
	VisibleKeysGroups(ctx context.Context, ids []Identity, table Table, keys [][]string, after []uint32) ([][]bool, []error)
	ChannelRead(ctx context.Context, id Identity, ch Channel) (ChannelAccess, error)
	ChannelWrite(ctx context.Context, id Identity, ch Channel) (ChannelAccess, error)
	WaitCommitted(ctx context.Context, xids []uint32) error
}

// Config configures an Authorizer.
type Config struct {
	// Pool runs the checks. Its role must be able to SET ROLE to every role
	// tokens name (a superuser, or a member of them; the migrations grant
	// anon, authenticated and service_role to the migrating user). A small
	// pool (4 connections) is plenty: a check is one short query.
	Pool *pgxpool.Pool
	// ServiceRole bypasses row security, as service_role does in Supabase
	// (default "service_role").
	ServiceRole string
	// QueryTimeout bounds one check, policies included (default 5s).
	QueryTimeout time.Duration
	// MaxKeys is the most keys one VisibleKeys query carries; more are
	// split (default 1000).
	MaxKeys int
	// GroupsPerRoundTrip is how many claims groups VisibleKeysGroups checks
	// in one transaction and round trip (default 25).
	GroupsPerRoundTrip int
	Logger             *slog.Logger
}

// Authorizer is the Postgres-backed Checker. It is safe for concurrent use.
type Authorizer struct {
	cfg Config

	mu     sync.Mutex
	tables map[Table]*tableInfo // catalog facts, refreshed by TableAccess
}

var _ Checker = (*Authorizer)(nil)

// New returns an Authorizer. It panics without a Pool.
func New(cfg Config) *Authorizer {
	if cfg.Pool == nil {
		panic("authz: Config.Pool is required")
	}
	if cfg.ServiceRole == "" {
		cfg.ServiceRole = "service_role"
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = 5 * time.Second
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 1000
	}
	if cfg.GroupsPerRoundTrip <= 0 {
		cfg.GroupsPerRoundTrip = 25
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Authorizer{cfg: cfg, tables: map[Table]*tableInfo{}}
}

// ErrUnknownRole is wrapped by the error for a token whose role Postgres
// does not have.
var ErrUnknownRole = errors.New("unknown role")

// RoleError is a role walcast cannot check as.
type RoleError struct{ Role string }

func (e *RoleError) Error() string {
	return fmt.Sprintf("Unauthorized: role %q of the token does not exist in the database; create it or sign tokens with an existing role (anon, authenticated, service_role)", e.Role)
}

func (e *RoleError) Unwrap() error { return ErrUnknownRole }

// ErrUnknownTable is wrapped by the error for a table that does not exist.
var ErrUnknownTable = errors.New("unknown table")

func (a *Authorizer) timeoutSetting() string {
	return fmt.Sprintf("%dms", a.cfg.QueryTimeout.Milliseconds())
}
