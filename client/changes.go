package client

import (
	"encoding/json"
	"strings"
	"time"
)

// ResumeConfigKey is the join config key of walcast's resume extension:
//
//	"config": {..., "postgres_changes_resume": {"after": "<cursor>"}}
//
// See "Resume and gaps" in the package documentation.
const ResumeConfigKey = "postgres_changes_resume"

// GapStatus is the status of the system message by which a server says
// that it cannot resume after the cursor a join asked for:
//
//	{"extension":"postgres_changes","status":"gap","message":"...",
//	 "channel":"<sub-topic>","after":"<cursor>","oldest":"<cursor>"}
const GapStatus = "gap"

// ResumeConfig is the value of config.postgres_changes_resume in a join,
// and of response.postgres_changes_resume in the reply of a server that
// accepts it.
type ResumeConfig struct {
	After string `json:"after"`
}

// PostgresChangesFilter selects the row changes a callback gets: one entry
// of config.postgres_changes.
type PostgresChangesFilter struct {
	// Event is "INSERT", "UPDATE", "DELETE" or "*" (also for "").
	Event string `json:"event"`
	// Schema defaults to "public".
	Schema string `json:"schema"`
	// Table is a table name; empty means every table of the schema.
	Table string `json:"table,omitempty"`
	// Filter is Supabase's filter syntax, e.g. "id=eq.1" or
	// "status=in.(paid,sent)".
	Filter string `json:"filter,omitempty"`
}

func (f PostgresChangesFilter) event() string {
	if f.Event == "" {
		return "*"
	}
	return f.Event
}

func (f PostgresChangesFilter) schema() string {
	if f.Schema == "" {
		return "public"
	}
	return f.Schema
}

// wire is the filter as the join sends it (and the server echoes it).
func (f PostgresChangesFilter) wire() PostgresChangesFilter {
	f.Event, f.Schema = f.event(), f.schema()
	return f
}

// Change is one postgres_changes event: a row inserted, updated or
// deleted, as realtime-js hands it to its callbacks, plus walcast's cursor.
type Change struct {
	Schema, Table string
	// Type is "INSERT", "UPDATE" or "DELETE" (realtime-js's eventType).
	Type            string
	CommitTimestamp time.Time
	Columns         []Column
	// Record is the new row (INSERT, UPDATE) as a JSON object, nil for a
	// DELETE; OldRecord the old one (UPDATE, DELETE: its key columns, or
	// every column with REPLICA IDENTITY FULL).
	Record, OldRecord json.RawMessage
	// UnchangedToast lists the columns of an UPDATE left out of Record
	// because their large values did not change (walcast only).
	UnchangedToast []string
	// Errors is nil, or e.g. ["Error 413: Payload Too Large"].
	Errors []string
	// Cursor is the change's position in walcast's global order: the commit
	// LSN and ordinal, fixed-width so that later cursors sort after earlier
	// ones. Empty from servers without cursors (Supabase Realtime).
	Cursor string
}

// Column is one entry of a change's columns.
type Column struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	PrimaryKey bool   `json:"primary_key,omitempty"`
}

// changeMessage is a postgres_changes payload.
type changeMessage struct {
	IDs  []json.Number `json:"ids"`
	Data struct {
		Schema          string          `json:"schema"`
		Table           string          `json:"table"`
		Type            string          `json:"type"`
		CommitTimestamp *string         `json:"commit_timestamp"`
		Columns         []Column        `json:"columns"`
		Record          json.RawMessage `json:"record"`
		OldRecord       json.RawMessage `json:"old_record"`
		UnchangedToast  []string        `json:"unchanged_toast"`
		Errors          []string        `json:"errors"`
		Cursor          string          `json:"cursor"`
	} `json:"data"`
}

// decodeChange reads a postgres_changes payload. commit_timestamp may be
// null (Supabase's 401 errors); an unparsable one is left zero.
func decodeChange(payload []byte) (Change, []json.Number, error) {
	var m changeMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return Change{}, nil, err
	}
	d := &m.Data
	chg := Change{
		Schema: d.Schema, Table: d.Table, Type: d.Type, Columns: d.Columns,
		Record: d.Record, OldRecord: d.OldRecord, UnchangedToast: d.UnchangedToast,
		Errors: d.Errors, Cursor: d.Cursor,
	}
	if isJSONNull(chg.Record) {
		chg.Record = nil
	}
	if isJSONNull(chg.OldRecord) {
		chg.OldRecord = nil
	}
	if d.CommitTimestamp != nil {
		chg.CommitTimestamp, _ = time.Parse(time.RFC3339Nano, *d.CommitTimestamp)
	}
	return chg, m.IDs, nil
}

func isJSONNull(b json.RawMessage) bool { return len(b) == 0 || string(b) == "null" }

// binding is one OnPostgresChanges registration; id is the server's id of
// it in the current join.
type binding struct {
	filter PostgresChangesFilter
	fn     func(Change)
	id     string
}

// OnPostgresChanges registers fn for the row changes f selects. It must be
// called before Subscribe (the filters are part of the join), and panics
// otherwise, as realtime-js throws.
func (ch *Channel) OnPostgresChanges(f PostgresChangesFilter, fn func(Change)) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.state != stateIdle {
		panic("realtime channel " + ch.topic + ": OnPostgresChanges after Subscribe")
	}
	ch.bindings = append(ch.bindings, &binding{filter: f, fn: fn})
}

// cursorAfter reports whether cursor c comes after last. Cursors of
// walcast have a fixed width, so the later one sorts after; cursors of
// another length are not compared (always delivered).
func cursorAfter(last, c string) bool {
	if last == "" || c == "" || len(last) != len(c) {
		return true
	}
	return c > last
}

// handleChange queues a postgres_changes event for its callbacks, on the
// reader goroutine. A change at or before the channel's cursor is a
// duplicate (a resumed stream may repeat a transaction) and is dropped.
// The cursor advances only once the change is queued, so that a rejoin
// resumes after what the callbacks will see. False means the queue is
// full.
func (ch *Channel) handleChange(payload []byte) bool {
	chg, ids, err := decodeChange(payload)
	if err != nil {
		ch.c.log.Warn("realtime: malformed postgres_changes dropped", "topic", ch.topic, "error", err)
		return true
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !cursorAfter(ch.cursor, chg.Cursor) {
		return true
	}
	var fns []func(Change)
	for _, b := range ch.bindings {
		if b.id == "" || !containsID(ids, b.id) {
			continue
		}
		if ev := b.filter.event(); ev == "*" || strings.EqualFold(ev, chg.Type) {
			fns = append(fns, b.fn)
		}
	}
	if len(fns) > 0 && !ch.c.enqueue(func() {
		for _, fn := range fns {
			fn(chg)
		}
	}) {
		return false
	}
	if chg.Cursor != "" {
		ch.cursor = chg.Cursor
	}
	return true
}

func containsID(ids []json.Number, id string) bool {
	for _, x := range ids {
		if x.String() == id {
			return true
		}
	}
	return false
}

// joinConfig is the config of a phx_join.
type joinConfig struct {
	Broadcast       broadcastWire           `json:"broadcast"`
	Presence        PresenceConfig          `json:"presence"`
	PostgresChanges []PostgresChangesFilter `json:"postgres_changes"`
	Private         bool                    `json:"private"`
	Resume          *ResumeConfig           `json:"postgres_changes_resume,omitempty"`
}

// joinPayload builds the phx_join payload and returns the cursor it asks
// to resume after ("" for none). ch.mu must be held.
func (ch *Channel) joinPayload(token string) (json.RawMessage, string) {
	cfg := joinConfig{
		Broadcast:       ch.broadcastWire(),
		Presence:        ch.cfg.Presence,
		PostgresChanges: make([]PostgresChangesFilter, len(ch.bindings)),
		Private:         ch.cfg.Private,
	}
	if ch.pres.wanted() || ch.tracked != nil {
		cfg.Presence.Enabled = true
	}
	for i, b := range ch.bindings {
		cfg.PostgresChanges[i] = b.filter.wire()
	}
	resume := ""
	if len(ch.bindings) > 0 && ch.cursor != "" {
		resume = ch.cursor
		cfg.Resume = &ResumeConfig{After: resume}
	}
	p := struct {
		Config      joinConfig `json:"config"`
		AccessToken string     `json:"access_token,omitempty"`
	}{cfg, token}
	b, err := json.Marshal(p)
	if err != nil {
		panic("realtime: join payload: " + err.Error()) // strings and bools only
	}
	return b, resume
}
