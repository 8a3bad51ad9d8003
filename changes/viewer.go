package changes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/walcast/walcast/authz"
)

// Viewer is who subscribes: a verified token's role and claims. With
// Config.Authz set, a binding delivers only the tables its role may
// SELECT, only the columns it may read, and, for tables with row-level
// security, only the rows its role and claims may SELECT.
type Viewer struct {
	Role   string
	Claims map[string]any // every claim of the token (auth.Claims.Raw)
}

// RowAuthorizer is what the dispatcher asks about a viewer's rights
// (*authz.Authorizer implements it).
type RowAuthorizer interface {
	TableAccess(ctx context.Context, role string, tables []authz.Table) ([]authz.TableAccess, error)
	VisibleKeys(ctx context.Context, id authz.Identity, table authz.Table, keys [][]string) ([]bool, error)
	// VisibleKeysGroups checks once the transactions after are visible to
	// new snapshots (their commit reaches the stream a moment before).
	VisibleKeysGroups(ctx context.Context, ids []authz.Identity, table authz.Table, keys [][]string, after []uint32) ([][]bool, []error)
}

// grant is what one binding's viewer may read, decided at subscribe (and
// again on SetViewer). It is immutable: a new token gets a new grant.
type grant struct {
	id     authz.Identity
	tables map[authz.Table]*tableGrant // the covered tables it may read; others are not delivered
}

// tableGrant is a viewer's access to one table.
type tableGrant struct {
	cols       *colSet  // the columns it may read
	pk         []string // primary key columns, in key order
	rowChecked bool     // INSERT and UPDATE pass VisibleKeys; DELETE is cut to the key
}

// colSet is an interned set of readable columns of a table: viewers with
// equal sets share one pointer, so a change is encoded once per set.
type colSet struct {
	names map[string]bool
}

// errNoViewer refuses a binding without a Viewer when authorization is on.
//
//lint:ignore ST1005 Supabase's capitalised style of refusals
var errNoViewer = errors.New("Unauthorized: postgres_changes need the token's role to check access; the subscription carried none")

// authorizeBindings authorizes the valid specs, each for its binding's
// Viewer (one check per distinct viewer of the call).
func (d *Dispatcher) authorizeBindings(ctx context.Context, bindings []Binding, specs []spec, errs []error) {
	done := make([]bool, len(bindings))
	part := make([]error, len(bindings))
	for i := range bindings {
		if done[i] {
			continue
		}
		v := bindings[i].Viewer
		for j := range bindings {
			part[j] = errs[j]
			if bindings[j].Viewer != v {
				part[j] = errSkip
			} else {
				done[j] = true
			}
		}
		d.authorizeSpecs(ctx, v, specs, part)
		for j := range bindings {
			if part[j] != errSkip {
				errs[j] = part[j]
			}
		}
	}
}

var errSkip = errors.New("skip")

// authorizeSpecs decides the grant of each valid spec for viewer, setting
// errs for refused ones. A binding naming one table is refused when its
// role may not read that table (Supabase's Error 400 or 401, or a clear
// SELECT refusal); a binding covering several tables (a schema or "*")
// keeps those it may read and is refused only when there are none.
func (d *Dispatcher) authorizeSpecs(ctx context.Context, viewer *Viewer, specs []spec, errs []error) {
	fail := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	if viewer == nil || viewer.Role == "" {
		fail(errNoViewer)
		return
	}
	id, err := authz.NewIdentity(viewer.Role, viewer.Claims)
	if err != nil {
		fail(err)
		return
	}
	var tables []authz.Table
	seen := map[authz.Table]int{}
	for i := range specs {
		if errs[i] != nil {
			continue
		}
		for _, t := range specs[i].tables {
			if _, ok := seen[t]; !ok {
				seen[t] = len(tables)
				tables = append(tables, t)
			}
		}
	}
	if len(tables) == 0 {
		return
	}
	access, err := d.cfg.Authz.TableAccess(ctx, viewer.Role, tables)
	if err != nil {
		var re *authz.RoleError
		if !errors.As(err, &re) {
			err = fmt.Errorf("check access of role %q: %w", viewer.Role, err)
		}
		fail(err)
		return
	}
	grants := make(map[authz.Table]*tableGrant, len(tables))
	refusals := make(map[authz.Table]error)
	for i := range access {
		ta := &access[i]
		if err := tableRefusal(ta, viewer.Role); err != nil {
			refusals[ta.Table] = err
			continue
		}
		grants[ta.Table] = &tableGrant{cols: d.internCols(ta.Table, ta.Columns), pk: ta.PrimaryKey, rowChecked: ta.RowChecked()}
	}
	for i := range specs {
		if errs[i] != nil {
			continue
		}
		s := &specs[i]
		g := &grant{id: id, tables: make(map[authz.Table]*tableGrant, len(s.tables))}
		var first error
		for _, t := range s.tables {
			if tg := grants[t]; tg != nil {
				g.tables[t] = tg
			} else if first == nil {
				first = refusals[t]
			}
		}
		exact := s.schema != "*" && s.table != "*"
		if first != nil && (exact || len(g.tables) == 0) {
			errs[i] = first
			continue
		}
		s.grant = g
	}
}

// tableRefusal is why role may not subscribe to a table, or nil.
func tableRefusal(ta *authz.TableAccess, role string) error {
	if len(ta.PrimaryKey) > 0 && !ta.CanSelect {
		return fmt.Errorf("Error 401: Unauthorized: role %q may not SELECT from %s; GRANT SELECT ON %s TO %s to subscribe to it", role, ta.Table, ta.Table, role)
	}
	return ta.Err()
}

// internCols returns the shared colSet of cols on table.
func (d *Dispatcher) internCols(table authz.Table, cols []string) *colSet {
	key := table.String() + "\x00" + strings.Join(cols, "\x00")
	d.colMu.Lock()
	defer d.colMu.Unlock()
	if c := d.colSets[key]; c != nil {
		return c
	}
	c := &colSet{names: make(map[string]bool, len(cols))}
	for _, n := range cols {
		c.names[n] = true
	}
	d.colSets[key] = c
	return c
}

// SetViewer re-evaluates every binding of sink for a new viewer (a
// refreshed token), keeping their ids: bindings the new viewer may still
// read deliver under its rights from the next change on; the others are
// dropped, and the returned *SubscribeError names them. Without
// Config.Authz it does nothing.
func (d *Dispatcher) SetViewer(ctx context.Context, sink Sink, viewer *Viewer) error {
	if d.cfg.Authz == nil || sink == nil {
		return nil
	}
	d.mu.RLock()
	e := d.sinks[sink]
	var ids []uint64
	var specs []spec
	if e != nil {
		ids = append(ids, e.ids...)
		for _, id := range ids {
			specs = append(specs, *d.specs[id])
		}
	}
	d.mu.RUnlock()
	if len(ids) == 0 {
		return nil
	}
	errs := make([]error, len(specs))
	for i := range specs {
		specs[i].grant = nil
	}
	d.authorizeSpecs(ctx, viewer, specs, errs)
	d.mu.Lock()
	for i, id := range ids {
		if d.byID[id] != e {
			continue // unsubscribed meanwhile
		}
		if errs[i] != nil {
			d.dropLocked(e, id)
			continue
		}
		d.specs[id] = &specs[i]
	}
	d.mu.Unlock()
	return d.refused(ids, errs)
}

// dropLocked removes one binding of e. d.mu must be held.
func (d *Dispatcher) dropLocked(e *sinkEntry, id uint64) {
	delete(d.byID, id)
	delete(d.specs, id)
	d.index.Remove(id)
	for j, x := range e.ids {
		if x == id {
			e.ids = append(e.ids[:j:j], e.ids[j+1:]...)
			break
		}
	}
	if len(e.ids) == 0 {
		delete(d.sinks, e.sink)
	}
}
