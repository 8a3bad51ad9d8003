-- What Supabase's policies expect of a database, created only where it is
-- missing, so a Supabase database keeps its own definitions and a plain
-- Postgres gets the same names:
--   - the roles anon, authenticated and service_role, which tokens name in
--     their `role` claim and which walcast checks table privileges and row
--     security as;
--   - auth.uid(), auth.role() and auth.jwt(), which policies call;
--   - realtime.messages and realtime.topic(), on which private channels'
--     policies are written (walcast inserts probe rows into the table and
--     rolls them back; nothing is ever kept there).

-- Roles, NOLOGIN and NOINHERIT as in Supabase; service_role bypasses row
-- security. Creating roles needs CREATEROLE (BYPASSRLS needs a superuser);
-- without it the migration says what to run rather than failing.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                IF r = 'service_role' THEN
                    BEGIN
                        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
                    EXCEPTION WHEN insufficient_privilege THEN
                        CREATE ROLE service_role NOLOGIN NOINHERIT;
                        RAISE WARNING 'walcast: created service_role without BYPASSRLS (that needs a superuser); walcast still lets it bypass row security, but your own sessions as service_role do not. A superuser can run: ALTER ROLE service_role BYPASSRLS';
                    END;
                ELSE
                    EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
                END IF;
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    NULL; -- another walcast on this cluster created it meanwhile (roles are cluster-wide)
                WHEN insufficient_privilege THEN
                    RAISE WARNING 'walcast: cannot create role % (needs CREATEROLE); tokens with role % are refused until a privileged user runs: CREATE ROLE % NOLOGIN NOINHERIT; GRANT % TO %', r, r, r, r, current_user;
            END;
        END IF;
        -- walcast checks privileges and policies as the token's role with
        -- SET ROLE, which needs membership for a non-superuser.
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r)
           AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
           AND NOT pg_catalog.pg_has_role(current_user, r, 'MEMBER') THEN
            BEGIN
                EXECUTE pg_catalog.format('GRANT %I TO %I', r, current_user);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'walcast: cannot join role %; a privileged user can run: GRANT % TO %', r, r, current_user;
            END;
        END IF;
    END LOOP;
END
$$;

CREATE SCHEMA IF NOT EXISTS auth;

-- The three functions as Supabase Auth defines them: the single-claim
-- settings (request.jwt.claim.sub, .role) win, then the claims JSON.
DO $$
BEGIN
    IF pg_catalog.to_regprocedure('auth.uid()') IS NULL THEN
        CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim.sub', true), ''),
                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
            )::uuid
        $f$;
    END IF;
    IF pg_catalog.to_regprocedure('auth.role()') IS NULL THEN
        CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim.role', true), ''),
                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
            )::text
        $f$;
    END IF;
    IF pg_catalog.to_regprocedure('auth.jwt()') IS NULL THEN
        CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim', true), ''),
                nullif(current_setting('request.jwt.claims', true), '')
            )::jsonb
        $f$;
    END IF;
END
$$;

-- realtime.topic() is the topic being authorized, as in Supabase.
DO $$
BEGIN
    IF pg_catalog.to_regprocedure('realtime.topic()') IS NULL THEN
        CREATE FUNCTION realtime.topic() RETURNS text LANGUAGE sql STABLE AS $f$
            SELECT nullif(current_setting('realtime.topic', true), '')::text
        $f$;
    END IF;
END
$$;

-- realtime.messages has Supabase's columns, so that policies written for
-- Supabase apply unchanged. Supabase partitions it by inserted_at because
-- it keeps messages for replay; walcast keeps none, so one table does.
CREATE TABLE IF NOT EXISTS realtime.messages (
    topic          text      NOT NULL,
    extension      text      NOT NULL,
    payload        jsonb,
    event          text,
    private        boolean   DEFAULT false,
    updated_at     timestamp NOT NULL DEFAULT now(),
    inserted_at    timestamp NOT NULL DEFAULT now(),
    id             uuid      NOT NULL DEFAULT gen_random_uuid(),
    binary_payload bytea,
    CONSTRAINT messages_payload_exclusive CHECK (payload IS NULL OR binary_payload IS NULL),
    PRIMARY KEY (id, inserted_at)
);
ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;

-- Privileges as Supabase grants them; which rows each role sees or may
-- write is up to the policies users create, e.g.
--   CREATE POLICY "members read" ON realtime.messages FOR SELECT
--     TO authenticated USING (realtime.topic() = 'room:' || auth.uid());
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA auth, realtime TO %I', r);
                EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON realtime.messages TO %I', r);
            EXCEPTION WHEN insufficient_privilege THEN
                -- A Supabase database, where other owners granted these.
                RAISE WARNING 'walcast: cannot grant % the use of auth, realtime and realtime.messages: %', r, SQLERRM;
            END;
        END IF;
    END LOOP;
END
$$;
