package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/cluster"
	"github.com/walcast/walcast/presence"
	"github.com/walcast/walcast/presence/pgstore"
	"github.com/walcast/walcast/relay"
	"github.com/walcast/walcast/replication"
	"github.com/walcast/walcast/transport"
)

// nodeIDPattern is what a node id may be: it names the node in logs, the
// registry and (lower-cased) its slot.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$`)

// nodeIDFile, in the data dir, keeps the default node id.
const nodeIDFile = "node-id"

// defaultNodeID returns the node id kept in dataDir, or makes one from the
// host name and keeps it there. The id must not change when a container
// is recreated (a new id leaves the old slot behind until the survivors
// drop it): with the data dir on a volume it does not; without one, set
// --node-id. The host name keeps the slot of a node that ran before node
// ids existed (walcast_<host>). When the file cannot be written the host
// name is used as is, with a warning from the caller.
func defaultNodeID(dataDir string) (id string, persisted bool, err error) {
	path := filepath.Join(dataDir, nodeIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id = strings.TrimSpace(string(b))
		if !nodeIDPattern.MatchString(id) {
			return "", false, fmt.Errorf("%s holds %q, not a node id (letters, digits, '_', '.', '-'; at most 48): fix or remove it", path, id)
		}
		return id, true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	host, _ := os.Hostname()
	id = strings.Trim(regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(host, "_"), "_.-")
	if len(id) > 48 {
		id = id[:48]
	}
	if id == "" {
		id = "walcast"
	}
	if os.MkdirAll(dataDir, 0o755) != nil || os.WriteFile(path, []byte(id+"\n"), 0o644) != nil {
		return id, false, nil
	}
	return id, true, nil
}

// slotFor names the slot of a node: walcast_ and the id, lower case, with
// what a slot name cannot hold replaced by '_'.
func slotFor(nodeID string) string {
	name := "walcast_" + strings.Trim(slotUnsafe.ReplaceAllString(strings.ToLower(nodeID), "_"), "_")
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "_")
}

// messageHandlers hands every logical message of the stream to each
// handler in turn; each takes its own prefix and ignores the others.
type messageHandlers []replication.MessageHandler

func (hs messageHandlers) HandleMessage(ctx context.Context, msg *replication.LogicalMessage) error {
	for _, h := range hs {
		if err := h.HandleMessage(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

// nodeParts is what makes a node one of several: its registration, the
// shared presence store and the broadcast relay.
type nodeParts struct {
	node  *cluster.Node
	store *pgstore.Store
	relay *relay.Relay
	log   *slog.Logger
	cfg   *serveConfig
}

// newNodeParts builds the node's registration, presence store and relay
// and plugs them into the server's configuration.
func newNodeParts(cfg *serveConfig, pool *pgxpool.Pool, addr string, scfg *transport.Config) (*nodeParts, error) {
	ncfg := cfg.node
	ncfg.Pool, ncfg.Address = pool, addr
	node, err := cluster.New(ncfg)
	if err != nil {
		return nil, usageError{err}
	}
	p := &nodeParts{node: node, log: cfg.log, cfg: cfg}
	p.relay = relay.New(relay.Config{Pool: pool, Node: ncfg.ID, Peers: node.HasPeers, Mode: cfg.relay, Logger: cfg.log})
	scfg.Node = ncfg.ID
	scfg.Relay = p.relay.Wrap
	scfg.Presence = func(sink presence.Sink) presence.Store {
		p.store = pgstore.New(pgstore.Config{Pool: pool, Node: node, Logger: cfg.log}, sink)
		return p.store
	}
	return p, nil
}

// handlers is the stream's message handler: the server's database
// broadcasts, then the registry's, the presence store's and the relay's
// messages.
func (p *nodeParts) handlers(server *transport.Server) replication.MessageHandler {
	return messageHandlers{server, p.node, p.store, p.relay}
}

// start registers the node and starts the store's and the relay's
// goroutines; the relay's run until streamCtx ends. The relay listens
// before the node registers: no peer relays to it before it can hear.
func (p *nodeParts) start(ctx context.Context, wg *sync.WaitGroup, streamCtx context.Context) error {
	if !p.cfg.nodeIDPersisted {
		p.log.Warn("the node id could not be kept in the data dir; it changes with the host name (set --node-id)", "node", p.cfg.node.ID, "data_dir", p.cfg.dataDir)
	}
	if err := p.relay.Listen(streamCtx); err != nil {
		return err
	}
	if err := p.node.Start(ctx); err != nil {
		p.relay.Close()
		return err
	}
	p.store.Start()
	wg.Go(func() { p.relay.Run(streamCtx) })
	return nil
}

// stop stops the relay's listener, writes the presence leaves of a node
// shutting down, stops heartbeating and deletes the node's registration.
func (p *nodeParts) stop() {
	p.relay.Close()
	if err := p.store.Close(); err != nil {
		p.log.Error("write the last presence changes", "error", err)
	}
	if err := p.node.Close(); err != nil {
		p.log.Warn("leave the cluster", "error", err)
	}
}
