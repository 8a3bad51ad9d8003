package presence

// MemberID identifies a tracker (for walcast's transport: one joined
// channel). Store.NewMember allocates them, unique per Store.
type MemberID uint64

// Sink receives every change of every room of a Store: room, and the
// change's diff (never empty). Calls for one room come one at a time, in
// the room's change order, with the room locked: a Sink must not block and
// must not call back into the Store. A nil Sink discards the diffs.
type Sink func(room string, d Diff)

// Store holds presence per room. Memory is the single-node implementation.
//
// A store shared by several nodes (presence kept in Postgres) would
// satisfy the same interface by keeping the Memory-like local view that
// these methods read and write, and replicating it behind them:
//
//   - Track, Untrack and Sync never wait for the network: they act on the
//     local view, and the store writes local changes through in the
//     background. Changes made on other nodes arrive later and reach the
//     same Sink as local ones, so subscribers cannot tell them apart.
//   - Every node heartbeats its liveness (a row with an expiry, refreshed
//     well within its TTL, say every 5 s for a 30 s TTL). Entries belong to
//     the node that tracked them; member ids are only unique per node, so
//     a shared store keys entries by (node, member).
//   - When a node's heartbeat has not been refreshed for the TTL, the
//     surviving nodes treat it as dead: each drops the dead node's entries
//     from its view and publishes their leaves, and one of them deletes the
//     rows. A node that finds itself declared dead (it was partitioned)
//     re-tracks its local members under a new node incarnation.
//   - phx_refs must be unique across nodes: Memory's random refs are.
//
// Optional capabilities (closing a store's background work, say) are to be
// discovered by type assertion (io.Closer), not added to this interface.
type Store interface {
	// NewMember returns a MemberID that no other tracker of this Store
	// has, for a tracker about to Track.
	NewMember() MemberID
	// Track sets member's meta in room under key. Tracking the same key and
	// meta again changes nothing and reports false. Otherwise the meta gets
	// a new phx_ref; if member already had one under the same key, this is
	// an update (the new entry's PrevRef is the old ref, and the old entry
	// leaves), and under another key the old entry simply leaves. The diff
	// goes to the Sink before Track returns, and is returned too.
	Track(room string, member MemberID, key string, meta Meta) (Diff, bool)
	// Untrack removes member's meta from room, if any; the leave goes to
	// the Sink and is returned (empty when member had none).
	Untrack(room string, member MemberID) Diff
	// Sync calls f with room's state ({} when empty) while no change of the
	// room can happen: a caller that subscribes to the room's diffs inside
	// f receives exactly the diffs after that state. state is only valid
	// during f. f must not call back into the Store.
	Sync(room string, f func(state []byte))
}
