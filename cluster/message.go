package cluster

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/walcast/walcast/replication"
)

// MessagePrefix is the pg_logical_emit_message prefix of the node
// registry's messages.
const MessagePrefix = "walcast.node"

// nodeMessage is what the registry tells every node through its stream:
// a node's hello (by which the node learns that its own stream is live),
// or incarnations declared dead.
type nodeMessage struct {
	Hello *wireInc  `json:"hello,omitempty"`
	Dead  []wireInc `json:"dead,omitempty"`
}

type wireInc struct {
	Node string `json:"n"`
	N    int64  `json:"i"`
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// emit sends msg to every node's stream, transactionally: with tx, when
// tx commits.
func (n *Node) emit(ctx context.Context, db execer, msg nodeMessage) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, "SELECT pg_logical_emit_message(true, $1, $2::text)", MessagePrefix, string(b))
	return err
}

var _ replication.MessageHandler = (*Node)(nil)

// HandleMessage takes the registry's messages from the node's stream and
// tells the watchers; other prefixes are ignored. A message it cannot read
// is logged and skipped: an error would stop the stream.
func (n *Node) HandleMessage(_ context.Context, msg *replication.LogicalMessage) error {
	if msg.Prefix != MessagePrefix {
		return nil
	}
	var m nodeMessage
	if err := json.Unmarshal(msg.Content, &m); err != nil {
		n.log.Warn("skipping a malformed node message", "cursor", msg.Cursor.String(), "error", err)
		return nil
	}
	if h := m.Hello; h != nil && h.Node != n.cfg.ID {
		n.peers.Store(true)
	}
	if h := m.Hello; h != nil && h.Node == n.cfg.ID && h.N == n.inc.Load() && !n.live.Swap(true) {
		n.log.Info("node stream live")
		for _, w := range n.watchers {
			w.Live()
		}
	}
	for _, d := range m.Dead {
		inc := Incarnation(d)
		if inc == n.Incarnation() {
			continue // the heartbeat finds out and registers again
		}
		for _, w := range n.watchers {
			w.Dead(inc)
		}
	}
	return nil
}

// AliveTx reports whether inc is still registered as alive, and keeps it
// so until tx ends: a write made in tx cannot commit after its writer was
// declared dead.
func AliveTx(ctx context.Context, tx pgx.Tx, inc Incarnation) (bool, error) {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM realtime.walcast_nodes
WHERE node_id = $1 AND incarnation = $2 AND dead_at IS NULL FOR SHARE`, inc.Node, inc.N).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
