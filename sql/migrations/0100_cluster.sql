-- Several walcast nodes on one database: a registry of nodes with their
-- heartbeats, and the presence members each node tracks.
--
-- The tables are UNLOGGED: a heartbeat every few seconds per node and a
-- row per tracked member would otherwise fill the WAL that every node's
-- slot retains and decodes, and an unlogged table is never part of a
-- publication (not even FOR ALL TABLES), so neither reaches
-- postgres_changes subscribers. What other nodes must learn in order
-- travels as transactional pg_logical_emit_message records instead.
-- The price: after a crash of Postgres (or on a promoted standby) the tables
-- are empty. Every node then finds its registration gone at its next
-- heartbeat, registers again under a new incarnation and writes its
-- members again, so presence heals by itself within a heartbeat; slots of
-- nodes that died before the crash are found again through the logged
-- ledger of 0101_cluster_slots.sql.

-- Incarnations of nodes: a node takes a new one at every start and
-- whenever it finds that the others declared it dead. A global sequence
-- makes them unique and ordered, so "registered after that snapshot" is a
-- comparison.
CREATE SEQUENCE IF NOT EXISTS realtime.walcast_incarnation;

-- One row per node id: its current incarnation, where it listens, its
-- slot, and when it was last heard of. dead_at is set by the survivor
-- that declared it dead; the row stays until the node's slot is dropped
-- (or the node comes back).
CREATE UNLOGGED TABLE IF NOT EXISTS realtime.walcast_nodes (
    node_id      text PRIMARY KEY,
    incarnation  bigint NOT NULL,
    address      text NOT NULL DEFAULT '',
    slot         text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    dead_at      timestamptz
);

-- Presence members, keyed by the node incarnation that tracks them and
-- its member id (unique per node only). meta is the client's JSON object
-- in canonical form; ref and prev_ref are its phx_ref and phx_ref_prev.
CREATE UNLOGGED TABLE IF NOT EXISTS realtime.walcast_presence (
    node_id     text NOT NULL,
    incarnation bigint NOT NULL,
    room        text NOT NULL,
    member      bigint NOT NULL,
    key         text NOT NULL,
    ref         text NOT NULL,
    prev_ref    text NOT NULL DEFAULT '',
    meta        text NOT NULL,
    PRIMARY KEY (node_id, incarnation, room, member)
);

-- The number of the last presence batch each node incarnation committed:
-- a node reading the table learns which of the batches it receives later
-- the table already reflects.
CREATE UNLOGGED TABLE IF NOT EXISTS realtime.walcast_presence_seq (
    node_id     text NOT NULL,
    incarnation bigint NOT NULL,
    seq         bigint NOT NULL,
    PRIMARY KEY (node_id, incarnation)
);
