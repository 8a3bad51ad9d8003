-- Broadcast from the database, with Supabase's function signatures.
--
-- Instead of inserting into a realtime.messages table that is replicated,
-- as Supabase does, a broadcast is a transactional logical decoding message
-- on the replication stream walcast already reads: it reaches clients when
-- (and only if) the sending transaction commits, in commit order, and
-- leaves nothing behind to clean up.
--
-- As in Supabase, `private` defaults to true: the message reaches the
-- channels joined with config.private = true. walcast does not check RLS
-- policies on private channels yet, so any authenticated client may join
-- them.

-- realtime.send broadcasts payload as event to the channels of topic (a
-- channel's name, without "realtime:"). Clients receive
-- {"type":"broadcast","event":event,"payload":payload,"meta":{"id":id}},
-- where id is a new UUID that is also added to the payload as "id" when it
-- has none (as Supabase does).
-- As in Supabase a failure is a warning, not an error, so a trigger that
-- broadcasts never aborts the write it reports.
CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = ''
AS $$
DECLARE
    id uuid := pg_catalog.gen_random_uuid();
BEGIN
    IF topic IS NULL OR topic = '' OR event IS NULL THEN
        RAISE WARNING 'WarnSendingBroadcastMessage: topic and event are required';
        RETURN;
    END IF;
    PERFORM pg_catalog.pg_logical_emit_message(
        true,
        'walcast.broadcast',
        pg_catalog.jsonb_build_object(
            'id', id,
            'topic', topic,
            'event', event,
            'payload', CASE WHEN pg_catalog.jsonb_typeof(payload) = 'object' AND NOT payload ? 'id'
                            THEN payload || pg_catalog.jsonb_build_object('id', id) ELSE payload END,
            'private', coalesce(private, true)
        )::text
    );
EXCEPTION
    WHEN OTHERS THEN
        RAISE WARNING 'WarnSendingBroadcastMessage: %', SQLERRM;
END;
$$;

-- realtime.broadcast_changes is for row triggers: it broadcasts
-- {"old_record":OLD,"record":NEW,"operation":operation,"table":table_name,
-- "schema":table_schema} as event_name to topic_name (to private channels,
-- as in Supabase).
-- Typical use:
--   PERFORM realtime.broadcast_changes('room:' || NEW.room_id, TG_OP, TG_OP,
--       TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, OLD);
CREATE OR REPLACE FUNCTION realtime.broadcast_changes(
    topic_name text, event_name text, operation text, table_name text, table_schema text,
    new record, old record, level text DEFAULT 'ROW')
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = ''
AS $$
BEGIN
    IF level = 'STATEMENT' THEN
        RAISE EXCEPTION 'function can only be triggered for each row, not for each statement';
    END IF;
    IF operation NOT IN ('INSERT', 'UPDATE', 'DELETE') THEN
        RAISE EXCEPTION 'Unexpected operation type: %', operation;
    END IF;
    PERFORM realtime.send(
        pg_catalog.jsonb_build_object(
            'old_record', old,
            'record', new,
            'operation', operation,
            'table', table_name,
            'schema', table_schema
        ),
        event_name,
        topic_name
    );
END;
$$;
