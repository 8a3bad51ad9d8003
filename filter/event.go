package filter

import (
	"fmt"
	"strings"

	"github.com/walcast/walcast/replication"
)

// EventMask is a set of change kinds a subscription wants.
type EventMask uint8

// The events. EventAll is what "*" means: every row change, but not
// TRUNCATE, which Supabase Realtime never delivers; a subscription gets
// TRUNCATE only by asking for it explicitly.
const (
	EventInsert   EventMask = 1 << replication.Insert
	EventUpdate   EventMask = 1 << replication.Update
	EventDelete   EventMask = 1 << replication.Delete
	EventTruncate EventMask = 1 << replication.Truncate

	EventAll = EventInsert | EventUpdate | EventDelete
)

const eventsValid = EventAll | EventTruncate

// ParseEvent parses a subscription's event: "*", or INSERT, UPDATE, DELETE,
// TRUNCATE in any case. (Supabase Realtime treats an unknown event as "*";
// callers that want that leniency can map the error to EventAll.)
func ParseEvent(s string) (EventMask, error) {
	if s == "*" {
		return EventAll, nil
	}
	if k, ok := replication.ParseKind(s); ok {
		return 1 << k, nil
	}
	return 0, fmt.Errorf("invalid event %q: want *, INSERT, UPDATE, DELETE or TRUNCATE", s)
}

// Has reports whether m includes changes of kind k.
func (m EventMask) Has(k replication.Kind) bool { return k < 8 && m&(1<<k) != 0 }

func (m EventMask) String() string {
	if m == EventAll {
		return "*"
	}
	var parts []string
	for k := replication.Insert; k <= replication.Truncate; k++ {
		if m.Has(k) {
			parts = append(parts, k.String())
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Wildcard is the schema or table name that matches any.
const Wildcard = "*"

// Subscription is one postgres_changes binding: which events, on which
// tables, under which filter.
type Subscription struct {
	ID     uint64
	Events EventMask
	// Schema and Table name the relation; either may be Wildcard. An empty
	// Schema means "public" and an empty Table means Wildcard, as in
	// Supabase Realtime.
	Schema, Table string
	Filter        string // Supabase filter syntax; empty for none
}

func (s *Subscription) normalize() error {
	if s.Events == 0 || s.Events&^eventsValid != 0 {
		return fmt.Errorf("subscription %d: invalid event mask %#x", s.ID, uint8(s.Events))
	}
	if s.Schema == "" {
		s.Schema = "public"
	}
	if s.Table == "" {
		s.Table = Wildcard
	}
	return nil
}

func (s *Subscription) wildcard() bool { return s.Schema == Wildcard || s.Table == Wildcard }

// covers reports whether the subscription is about rel.
func (s *Subscription) covers(rel *replication.Relation) bool {
	return (s.Schema == Wildcard || s.Schema == rel.Schema) && (s.Table == Wildcard || s.Table == rel.Table)
}
