package changes

import (
	"fmt"
	"slices"
	"time"

	"github.com/walcast/walcast/replication"
)

// BudgetError is why bindings were dropped: evaluating their filter on one
// change took longer than Config.GroupBudget.
type BudgetError struct {
	Schema, Table string
	Budget        time.Duration
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("postgres_changes subscription dropped: its filter took more than %s to evaluate on a change to %s.%s; "+
		"subscribe again with fewer or simpler like, ilike, match or imatch conditions", e.Budget, e.Schema, e.Table)
}

// dropOverBudget unregisters the bindings in d.over and tells their sinks.
// Dropping the whole binding, not just skipping the change, keeps one
// expensive filter from costing its budget again on every change.
func (d *Dispatcher) dropOverBudget(ch *replication.Change) {
	type dropped struct {
		sink Sink
		ids  []uint64
	}
	var drops []dropped
	d.mu.Lock()
	for _, id := range d.over {
		e := d.byID[id]
		if e == nil {
			continue // unsubscribed meanwhile
		}
		delete(d.byID, id)
		d.index.Remove(id)
		for i, x := range e.ids {
			if x == id {
				e.ids = append(e.ids[:i], e.ids[i+1:]...)
				break
			}
		}
		if len(e.ids) == 0 && d.sinks[e.sink] == e {
			delete(d.sinks, e.sink)
		}
		i := slices.IndexFunc(drops, func(dr dropped) bool { return dr.sink == e.sink })
		if i < 0 {
			i = len(drops)
			drops = append(drops, dropped{sink: e.sink})
		}
		drops[i].ids = append(drops[i].ids, id)
	}
	d.mu.Unlock()

	err := &BudgetError{Schema: ch.Relation.Schema, Table: ch.Relation.Table, Budget: d.cfg.GroupBudget}
	d.log.Warn("postgres_changes bindings dropped: their filter went over the time budget",
		"schema", err.Schema, "table", err.Table, "budget", err.Budget, "bindings", len(d.over), "cursor", ch.Cursor.String())
	// No lock is held here: a sink may call back into the dispatcher.
	for _, dr := range drops {
		if es, ok := dr.sink.(ErrorSink); ok {
			es.BindingsDropped(dr.ids, err)
		}
	}
}
