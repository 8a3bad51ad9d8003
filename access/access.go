package access

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/walcast/walcast/authz"
	"github.com/walcast/walcast/transport"
)

// Checker is what access asks of authz (*authz.Authorizer implements it).
type Checker interface {
	TableAccess(ctx context.Context, role string, tables []authz.Table) ([]authz.TableAccess, error)
	ChannelRead(ctx context.Context, id authz.Identity, ch authz.Channel) (authz.ChannelAccess, error)
	ChannelWrite(ctx context.Context, id authz.Identity, ch authz.Channel) (authz.ChannelAccess, error)
}

// Config configures an Authorizer.
type Config struct {
	Checker Checker
	// ServiceRole may do everything (default "service_role").
	ServiceRole string
	// RoleTTL is how long a role found in the database is remembered
	// (default one minute); a missing role is asked again every time.
	RoleTTL time.Duration
}

// Authorizer implements transport.Authorizer.
type Authorizer struct {
	cfg Config

	mu    sync.Mutex
	roles map[string]time.Time // role → when it was last found
}

var _ transport.Authorizer = (*Authorizer)(nil)

// New returns an Authorizer. It panics without a Checker.
func New(cfg Config) *Authorizer {
	if cfg.Checker == nil {
		panic("access: Config.Checker is required")
	}
	if cfg.ServiceRole == "" {
		cfg.ServiceRole = "service_role"
	}
	if cfg.RoleTTL <= 0 {
		cfg.RoleTTL = time.Minute
	}
	return &Authorizer{cfg: cfg, roles: make(map[string]time.Time)}
}

// AuthorizeChannel implements transport.Authorizer.
func (a *Authorizer) AuthorizeChannel(ctx context.Context, req transport.ChannelRequest) (transport.ChannelAccess, error) {
	if req.Claims == nil {
		return nil, refusal("Unauthorized: a channel needs a verified token")
	}
	role := req.Claims.Role
	if err := a.checkRole(ctx, role); err != nil {
		return nil, err
	}
	if !req.Private || role == a.cfg.ServiceRole {
		return open{}, nil
	}
	id, err := authz.NewIdentity(role, req.Claims.Raw)
	if err != nil {
		return nil, refusal("Unauthorized: %w", err)
	}
	ch := authz.Channel{Topic: req.Topic, Presence: true}
	acc, err := a.cfg.Checker.ChannelRead(ctx, id, ch)
	if err != nil {
		// A failing policy (or database) refuses, as in Supabase.
		return nil, refusal("Unauthorized: could not check read access to Channel topic %s: %w", req.Topic, err)
	}
	if !acc.CanJoin() {
		if req.Refresh {
			return nil, refusal("You no longer have permission to read from this Channel topic: %s", req.Topic)
		}
		return nil, refusal("%s", authz.ReadDeniedText(req.Topic))
	}
	return &private{a: a, id: id, topic: req.Topic}, nil
}

// checkRole refuses a role the database does not have.
func (a *Authorizer) checkRole(ctx context.Context, role string) error {
	now := time.Now()
	a.mu.Lock()
	seen, ok := a.roles[role]
	a.mu.Unlock()
	if ok && now.Sub(seen) < a.cfg.RoleTTL {
		return nil
	}
	if _, err := a.cfg.Checker.TableAccess(ctx, role, nil); err != nil {
		return err // *authz.RoleError reads as a join refusal
	}
	a.mu.Lock()
	if len(a.roles) > 10_000 {
		clear(a.roles) // roles are few; tokens naming many are not worth remembering
	}
	a.roles[role] = now
	a.mu.Unlock()
	return nil
}

// open is the access of a public channel, or of the service role.
type open struct{}

func (open) Write(context.Context, transport.Extension) error { return nil }

// private is the access of a private channel joined with read access.
type private struct {
	a     *Authorizer
	id    authz.Identity
	topic string
}

// Write asks the policies whether the token may insert a message of ext
// on the topic; the channel keeps the answer.
func (p *private) Write(ctx context.Context, ext transport.Extension) error {
	ch := authz.Channel{Topic: p.topic, Presence: ext == transport.ExtPresence}
	acc, err := p.a.cfg.Checker.ChannelWrite(ctx, p.id, ch)
	if err != nil {
		return refusal("Unauthorized: could not check write access to Channel topic %s: %w", p.topic, err)
	}
	if ok := acc.BroadcastWrite; ext == transport.ExtPresence {
		ok = acc.PresenceWrite
		if !ok {
			return refusal("Unauthorized: You do not have permissions to track presence on this Channel topic: %s", p.topic)
		}
	} else if !ok {
		return refusal("Unauthorized: You do not have permissions to write to this Channel topic: %s", p.topic)
	}
	return nil
}

// Refusal is a join or write refused, its text Supabase's where it has one.
type Refusal struct {
	Text string
	Err  error // the check that failed, when one did
}

func (r *Refusal) Error() string { return r.Text }
func (r *Refusal) Unwrap() error { return r.Err }

// refusal formats a Refusal; a %w verb's error becomes its Err.
func refusal(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Refusal{Text: err.Error(), Err: errors.Unwrap(err)}
}
