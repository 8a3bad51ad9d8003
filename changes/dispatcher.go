package changes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
)

// Sink receives the postgres_changes of one channel. DeliverChange must not
// block and must not keep ids; data (the encoded `data` object) is shared by
// all sinks, immutable, and may be kept.
type Sink interface {
	DeliverChange(ids []uint64, data []byte)
}

// ErrorSink is a Sink that wants to know when the dispatcher drops some of
// its bindings by itself: today when their filter took longer than
// Config.GroupBudget to evaluate on a change. ids are the dropped bindings,
// which no later change carries; err, a *BudgetError, is written for the
// client (the text of the channel's `system` status:"error" message).
// BindingsDropped is called like DeliverChange: from the replication
// goroutine, with no lock held; it must not block. A sink that is not an
// ErrorSink loses the bindings silently (the dispatcher logs it).
type ErrorSink interface {
	Sink
	BindingsDropped(ids []uint64, err error)
}

// Binding is one postgres_changes entry of a join, as the client sent it.
// An empty Schema or Table means the client left it out. Viewer is who
// subscribes: with Config.Authz set it is required, and the binding
// delivers only what its role and claims may SELECT (see Viewer).
type Binding struct {
	Event, Schema, Table, Filter string
	Viewer                       *Viewer
}

// DefaultMaxRecordBytes is Supabase's poll_max_record_bytes.
const DefaultMaxRecordBytes = 1 << 20

// DefaultGroupBudget is the default Config.GroupBudget: a like or match on a
// megabyte of text takes about a millisecond when the filter is reasonable.
const DefaultGroupBudget = 10 * time.Millisecond

// Config configures a Dispatcher.
type Config struct {
	Pool           *pgxpool.Pool // ordinary connections for catalog/publication checks
	Publication    string        // default "walcast", as replication.Config
	Encode         replication.EncodeOptions
	MaxRecordBytes int // default DefaultMaxRecordBytes; larger changes get the Error 413 treatment
	// Retention bounds the window of recent changes kept for sinks that
	// resume after a cursor (SubscribeAfter); nil means DefaultRetainBytes
	// and DefaultRetainAge, a zero MaxBytes keeps nothing. The stream
	// confirms to Postgres only what has left the window, so a restarted
	// node reads the window again from its slot.
	Retention *Retention
	// FilterLimits bound the filters clients send; zero fields mean the
	// filter package's defaults.
	FilterLimits filter.Limits
	// GroupBudget is the time the bindings sharing one filter may take to
	// evaluate it on one change (default DefaultGroupBudget, negative for
	// none); past it they are dropped with a *BudgetError to their sinks,
	// and the stream goes on. See filter.Index.MatchBudget.
	GroupBudget time.Duration
	// Authz, when set, authorizes every binding for its Viewer: tables
	// and columns its role may read at subscribe, and rows under
	// row-level security per change (batched, see rowcheck.go). Without
	// it every binding sees every published row.
	Authz RowAuthorizer
	// CheckQueue bounds the batches (a transaction, or 4,096 deliveries of
	// a large one) waiting for row checks before the stream waits
	// (default 64).
	CheckQueue int
	Logger     *slog.Logger
}

// Dispatcher routes the changes of a replication.Stream to the sinks whose
// bindings they satisfy. See the package documentation for its contract.
type Dispatcher struct {
	cfg    Config
	log    *slog.Logger
	index  *filter.Index
	lastID atomic.Uint64

	// mu guards sinks and byID. The hot path only read-locks it, and never
	// across a sink call.
	mu      sync.RWMutex
	sinks   map[Sink]*sinkEntry
	byID    map[uint64]*sinkEntry
	specs   map[uint64]*spec // each binding as registered, its grant included
	lastSeq uint64

	colMu   sync.Mutex
	colSets map[string]*colSet // interned readable-column sets (viewer.go)
	views   viewCache          // relations cut to a column set (view.go)
	rows    *rowChecks         // nil without Config.Authz (rowcheck.go)

	live liveState
	win  *window
	rels map[uint32]*replication.Relation // the last of each relation announced, to see DDL (replication goroutine only)

	deliveries, oversized atomic.Uint64 // Stats

	// Scratch of the replication goroutine, reused from change to change so
	// that routing does not allocate.
	matched []uint64
	over    []uint64 // bindings whose filter went over the group budget
	targets []target
	ids     []uint64
	buf     []byte
	scratch viewScratch // encodings per column set (Config.Authz)
}

// sinkEntry is a sink with its registered bindings. sink and seq never
// change once the entry exists, so the hot path reads them without the lock.
type sinkEntry struct {
	sink Sink
	seq  uint64 // registration order: groups a change's matches by sink
	ids  []uint64
	// liveFrom is the first change (by window sequence number) delivered
	// to the sink as it happens; earlier ones it gets from its Resume.
	liveFrom atomic.Uint64
	// after is the cursor a resumed subscription's client saw last: no
	// change at or before it is delivered, live or replayed. A restarted
	// node reads its window again from the slot, and those changes come
	// through the live path while clients may already have resumed.
	after replication.Cursor
}

// New returns a Dispatcher; it touches the database only in Subscribe.
func New(cfg Config) *Dispatcher {
	if cfg.Publication == "" {
		cfg.Publication = "walcast"
	}
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ret := Retention{MaxBytes: DefaultRetainBytes, MaxAge: DefaultRetainAge}
	if cfg.Retention != nil {
		ret = *cfg.Retention
	}
	if cfg.GroupBudget == 0 {
		cfg.GroupBudget = DefaultGroupBudget
	}
	d := &Dispatcher{
		win:   newWindow(ret),
		rels:  make(map[uint32]*replication.Relation),
		cfg:   cfg,
		log:   cfg.Logger.With("component", "changes"),
		index: filter.NewIndexLimits(cfg.FilterLimits),
		sinks: make(map[Sink]*sinkEntry),
		byID:  make(map[uint64]*sinkEntry),
		specs: make(map[uint64]*spec),
		live:  liveState{ch: make(chan struct{})},
	}
	if cfg.Authz != nil {
		d.colSets = make(map[string]*colSet)
		d.rows = newRowChecks(d)
	}
	return d
}

// Close stops the row-check stage (with Config.Authz); changes it had not
// delivered are dropped. Call it after the stream stopped.
func (d *Dispatcher) Close() {
	if d.rows != nil {
		d.rows.close()
	}
}

// Subscribe assigns one id per binding (same order; JSON-safe integers
// < 2^53, unique per process), validates each binding against the catalog
// and the publication, and registers the valid ones. err != nil describes
// what was refused (the text of the channel's `system` status:"error"
// message) and is a *SubscribeError naming each refused binding; the
// channel stays joined and valid bindings stay active.
//
// Bindings are registered when Subscribe returns; an Unsubscribe of the
// same sink that runs meanwhile does not cover them, so a channel that
// leaves during its join must Unsubscribe after Subscribe returned.
func (d *Dispatcher) Subscribe(ctx context.Context, sink Sink, bindings []Binding) (ids []uint64, err error) {
	ids, _, err = d.subscribe(ctx, sink, bindings, nil)
	return ids, err
}

// subscribe is Subscribe; with a cursor to resume after, the registered
// bindings get no change as it happens until a Resume switches them live,
// and none at or before the cursor ever.
func (d *Dispatcher) subscribe(ctx context.Context, sink Sink, bindings []Binding, after *replication.Cursor) (ids []uint64, e *sinkEntry, err error) {
	if len(bindings) == 0 {
		return nil, nil, nil
	}
	ids = make([]uint64, len(bindings))
	for i := range ids {
		ids[i] = d.lastID.Add(1) // a counter stays far below 2^53 in any process's life
	}
	if sink == nil || !reflect.TypeOf(sink).Comparable() {
		// Sinks key a map: a non-comparable one would panic there.
		return ids, nil, refuseAll(ids, errors.New("changes: sink must be a comparable value, such as a pointer"))
	}
	errs := make([]error, len(bindings))
	specs := make([]spec, len(bindings))
	valid := 0
	for i, b := range bindings {
		if specs[i], errs[i] = parseBinding(b, d.cfg.FilterLimits); errs[i] == nil {
			valid++
		}
	}
	var rels map[[2]string]*replication.Relation
	if valid > 0 {
		rels = d.validate(ctx, specs, errs)
		if d.cfg.Authz != nil {
			d.authorizeBindings(ctx, bindings, specs, errs)
		}
	}
	e = d.register(sink, ids, specs, errs, rels, after)
	return ids, e, d.refused(ids, errs)
}

// validate checks the parsed bindings against the database, setting errs
// for those that are refused. It returns the tables it read from the
// catalog to compile filters, by schema and name.
func (d *Dispatcher) validate(ctx context.Context, specs []spec, errs []error) map[[2]string]*replication.Relation {
	fail := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	if d.cfg.Pool == nil {
		fail(errors.New("changes: no database to check bindings against"))
		return nil
	}
	conn, err := d.cfg.Pool.Acquire(ctx)
	if err != nil {
		fail(fmt.Errorf("connect to check bindings: %w", err))
		return nil
	}
	defer conn.Release()
	c := newChecker(conn.Conn(), d.cfg.Publication)
	for i := range specs {
		if errs[i] == nil {
			errs[i] = c.check(ctx, &specs[i])
		}
	}
	return c.rels
}

// register adds the bindings without an error to the index, setting errs
// for any the index refuses. Index and maps change under one lock, so an
// Unsubscribe sees either all or none of a call's bindings.
func (d *Dispatcher) register(sink Sink, ids []uint64, specs []spec, errs []error, rels map[[2]string]*replication.Relation, after *replication.Cursor) *sinkEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.sinks[sink]
	for i := range specs {
		if errs[i] != nil {
			continue
		}
		s := &specs[i]
		// The filter was compiled against the catalog's table. Handing
		// that table to the index binds it there now, unless the stream
		// bound it already: the stream's Relation message of the same
		// shape then costs nothing, instead of compiling every
		// subscription of the table on the first change (a pause of
		// ~0.3 s at 100,000 subscriptions). A table of another shape is
		// compiled again when the stream announces it.
		sub := filter.Subscription{ID: ids[i], Events: s.events, Schema: s.schema, Table: s.table, Filter: s.filter}
		if errs[i] = d.index.Add(sub, rels[[2]string{s.schema, s.table}]); errs[i] != nil {
			continue
		}
		if e == nil {
			d.lastSeq++
			e = &sinkEntry{sink: sink, seq: d.lastSeq}
			if after != nil {
				e.liveFrom.Store(math.MaxUint64)
				e.after = *after
			}
			d.sinks[sink] = e
		}
		e.ids = append(e.ids, ids[i])
		d.byID[ids[i]] = e
		d.specs[ids[i]] = s
	}
	return e
}

// Unsubscribe drops every binding of sink. A change being dispatched while
// it runs may still reach sink once after it returns.
func (d *Dispatcher) Unsubscribe(sink Sink) {
	if sink == nil || !reflect.TypeOf(sink).Comparable() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.sinks[sink]
	if e == nil {
		return
	}
	delete(d.sinks, sink)
	for _, id := range e.ids {
		delete(d.byID, id)
		delete(d.specs, id)
		d.index.Remove(id)
	}
}

// BindingError says why one binding was refused.
type BindingError struct {
	Index int    // position in the bindings given to Subscribe
	ID    uint64 // the id Subscribe returned for it, which nothing will carry
	Err   error
}

func (e *BindingError) Error() string { return e.Err.Error() }
func (e *BindingError) Unwrap() error { return e.Err }

// SubscribeError lists the refused bindings of one Subscribe call, in the
// order given. Its message is theirs, joined by "; ".
type SubscribeError struct{ Refused []BindingError }

// Unwrap returns the refusals' errors, so that errors.Is and errors.As
// see them.
func (e *SubscribeError) Unwrap() []error {
	errs := make([]error, len(e.Refused))
	for i := range e.Refused {
		errs[i] = e.Refused[i].Err
	}
	return errs
}

func (e *SubscribeError) Error() string {
	msgs := make([]string, len(e.Refused))
	for i := range e.Refused {
		msgs[i] = e.Refused[i].Err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (d *Dispatcher) refused(ids []uint64, errs []error) error {
	var se SubscribeError
	for i, err := range errs {
		if err != nil {
			se.Refused = append(se.Refused, BindingError{Index: i, ID: ids[i], Err: err})
		}
	}
	if len(se.Refused) == 0 {
		return nil
	}
	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		d.log.Debug("postgres_changes bindings refused", "refused", len(se.Refused), "of", len(ids), "error", se.Error())
	}
	return &se
}

func refuseAll(ids []uint64, err error) error {
	se := &SubscribeError{}
	for i := range ids {
		se.Refused = append(se.Refused, BindingError{Index: i, ID: ids[i], Err: err})
	}
	return se
}
