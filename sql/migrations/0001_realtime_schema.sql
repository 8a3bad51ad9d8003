-- walcast keeps its own tables and functions in the realtime schema, apart
-- from the application's.
CREATE SCHEMA IF NOT EXISTS realtime;

-- The migration ledger: one row per applied file, named without ".sql".
-- Apply records this migration in it too, in the same transaction.
CREATE TABLE IF NOT EXISTS realtime.schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
