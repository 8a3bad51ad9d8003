-- The slots of the nodes, in a logged table: the registry
-- (realtime.walcast_nodes) is unlogged and empty after a crash of
-- Postgres, and would forget the slots of nodes that died before it. A
-- survivor finding a slot here with no registry row takes it for a dead
-- node's, registers it dead as of then, and drops it --slot-ttl later
-- unless its node comes back. A row is written when a node first takes a
-- slot and deleted when the slot is dropped: a few rows of WAL per node.
CREATE TABLE IF NOT EXISTS realtime.walcast_slots (
    slot    text PRIMARY KEY,
    node_id text NOT NULL
);
