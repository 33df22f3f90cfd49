-- Embedding backfill bookkeeping (see docs/backfill.md).
--
-- The failures are dumped by pg_dump with the chunks; the state row and the
-- counters describe work in progress and are not: after a restore the chunk
-- counters are rebuilt by the insert trigger as the chunks are loaded.

-- Chunks whose embedding failed because of the chunk itself (the embedding
-- server was shown healthy at the time). Server-wide trouble never lands
-- here: it makes the backfill back off instead.
CREATE TABLE rag_search.backfill_failures (
    chunk_id        bigint      PRIMARY KEY REFERENCES rag_search.chunks (id) ON DELETE CASCADE,
    -- What was attempted: a row for another model, dimension or content is
    -- stale and ignored.
    embedding_model text        NOT NULL,
    embedding_dim   integer     NOT NULL,
    content_hash    bytea       NOT NULL,
    attempts        integer     NOT NULL CHECK (attempts > 0),
    error_kind      text        NOT NULL,
    last_error      text        NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- NULL once parked: no more automatic attempts until
    -- rag_backfill_retry_failed().
    next_retry_at   timestamptz,
    parked          boolean     NOT NULL DEFAULT false,
    CONSTRAINT backfill_failures_parked_has_no_retry CHECK (parked = (next_retry_at IS NULL))
);
CREATE INDEX backfill_failures_schedule ON rag_search.backfill_failures (parked, next_retry_at);
SELECT pg_catalog.pg_extension_config_dump('rag_search.backfill_failures', '');

-- One row: the backfill worker of this database and the embedding server's
-- health as the backfill sees it. Survives restarts, so rag_backfill_resume()
-- continues with the same settings.
CREATE TABLE rag_search.backfill_state (
    singleton        boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    -- Bumped by every launch; a worker serves only the generation it was
    -- launched for.
    generation       bigint      NOT NULL DEFAULT 0,
    -- As recorded: idle, starting, running, stopped or finished. The
    -- reported state also looks at whether a process holds the worker lock.
    state            text        NOT NULL DEFAULT 'idle'
                     CHECK (state IN ('idle', 'starting', 'running', 'stopped', 'finished')),
    stop_requested   boolean     NOT NULL DEFAULT false,
    -- operator, terminated, finished, max_chunks or error.
    stop_reason      text,
    mode             text        NOT NULL DEFAULT 'bootstrap' CHECK (mode IN ('bootstrap', 'maintenance')),
    batch_size       integer     NOT NULL DEFAULT 64 CHECK (batch_size > 0),
    batch_sleep_ms   integer     NOT NULL DEFAULT 150 CHECK (batch_sleep_ms >= 0),
    max_chunks       bigint      NOT NULL DEFAULT 0 CHECK (max_chunks >= 0),
    report_every     integer     NOT NULL DEFAULT 10 CHECK (report_every > 0),
    pid              integer,
    requested_at     timestamptz,
    started_at       timestamptz,
    stopped_at       timestamptz,
    last_batch_at    timestamptz,
    batches_done     bigint      NOT NULL DEFAULT 0,
    chunks_embedded  bigint      NOT NULL DEFAULT 0,
    chunks_failed    bigint      NOT NULL DEFAULT 0,
    http_requests    bigint      NOT NULL DEFAULT 0,
    -- The worker's lease on the chunks it is embedding: it holds no row
    -- locks while it waits for the network, so rag_backfill_step skips these.
    claimed_ids      bigint[]    NOT NULL DEFAULT '{}',
    claim_expires_at timestamptz,
    -- Embedding server trouble, shared by the worker and rag_backfill_step.
    server_failures  integer     NOT NULL DEFAULT 0,
    backoff_until    timestamptz,
    last_error       text,
    last_error_at    timestamptz
);
INSERT INTO rag_search.backfill_state DEFAULT VALUES;

-- Chunk counters as insert-only deltas, so that status answers in
-- milliseconds on millions of chunks without counting them and concurrent
-- writers never wait for each other. Inserts and deletes of chunks are
-- counted by triggers; embeddings written or cleared by the extension are
-- counted by the statement that writes them. Old deltas are folded into one
-- row now and then (rag_search.compact_chunk_counts). The recent positive
-- `embedded` deltas give the backfill rate.
CREATE TABLE rag_search.chunk_counts (
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    chunks   bigint      NOT NULL,
    embedded bigint      NOT NULL
);
CREATE INDEX chunk_counts_at ON rag_search.chunk_counts (at);
INSERT INTO rag_search.chunk_counts (chunks, embedded) VALUES (0, 0);

-- Folds deltas older than two minutes (outside the rate window) into one
-- row. SKIP LOCKED: concurrent compactions take disjoint rows and never wait.
CREATE FUNCTION rag_search.compact_chunk_counts() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT rag_search.require_writable('rag_search.compact_chunk_counts()');
    WITH old AS (
        DELETE FROM rag_search.chunk_counts
        WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM rag_search.chunk_counts
            WHERE at < clock_timestamp() - interval '2 minutes'
            FOR UPDATE SKIP LOCKED))
        RETURNING at, chunks, embedded)
    INSERT INTO rag_search.chunk_counts (at, chunks, embedded)
    SELECT max(at), sum(chunks), sum(embedded) FROM old HAVING count(*) > 0;
$$;

-- SECURITY DEFINER: whoever may write chunks may update the counters
-- through these triggers, without privileges on the counter table.
CREATE FUNCTION rag_search.count_inserted_chunks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.chunk_counts (chunks, embedded)
    SELECT count(*), count(*) FILTER (WHERE embedding IS NOT NULL) FROM new_rows
    HAVING count(*) > 0;
    IF random() < 0.01 THEN
        PERFORM rag_search.compact_chunk_counts();
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION rag_search.count_deleted_chunks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.chunk_counts (chunks, embedded)
    SELECT -count(*), -count(*) FILTER (WHERE embedding IS NOT NULL) FROM old_rows
    HAVING count(*) > 0;
    IF random() < 0.01 THEN
        PERFORM rag_search.compact_chunk_counts();
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION rag_search.count_truncated_chunks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM rag_search.chunk_counts;
    INSERT INTO rag_search.chunk_counts (chunks, embedded) VALUES (0, 0);
    RETURN NULL;
END $$;

CREATE TRIGGER chunks_count_insert AFTER INSERT ON rag_search.chunks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION rag_search.count_inserted_chunks();
CREATE TRIGGER chunks_count_delete AFTER DELETE ON rag_search.chunks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION rag_search.count_deleted_chunks();
CREATE TRIGGER chunks_count_truncate AFTER TRUNCATE ON rag_search.chunks
    FOR EACH STATEMENT EXECUTE FUNCTION rag_search.count_truncated_chunks();

-- Operators of the backfill. Roles belong to the cluster, not to one
-- database, so the role is created only if missing and DROP EXTENSION
-- leaves it in place (drop it by hand once no database uses it). A role of
-- that name that rag_search did not create (another database's CREATE
-- EXTENSION marks it with the comment below) is refused: whoever made it
-- could log in as it or grant it to themselves, and members of it operate
-- the backfill.
DO $$
DECLARE
    marker constant text := 'rag_search: operators of the embedding backfill (created by CREATE EXTENSION rag_search)';
    found_role pg_catalog.pg_roles;
    reason text;
BEGIN
    SELECT * INTO found_role FROM pg_catalog.pg_roles WHERE rolname = 'rag_search_admin';
    IF NOT FOUND THEN
        BEGIN
            CREATE ROLE rag_search_admin NOLOGIN;
            EXECUTE format('COMMENT ON ROLE rag_search_admin IS %L', marker);
            RETURN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            -- Created meanwhile by CREATE EXTENSION in another database.
            SELECT * INTO found_role FROM pg_catalog.pg_roles WHERE rolname = 'rag_search_admin';
        END;
    END IF;
    IF pg_catalog.shobj_description(found_role.oid, 'pg_authid') IS DISTINCT FROM marker THEN
        reason := 'it was not created by rag_search';
    ELSIF found_role.rolcanlogin OR found_role.rolsuper OR found_role.rolcreaterole
          OR found_role.rolcreatedb OR found_role.rolreplication OR found_role.rolbypassrls THEN
        reason := 'it has LOGIN or another role attribute';
    ELSIF EXISTS (SELECT FROM pg_catalog.pg_auth_members AS m
                  JOIN pg_catalog.pg_roles AS r ON r.oid = m.member
                  WHERE m.roleid = found_role.oid AND m.admin_option AND NOT r.rolsuper) THEN
        reason := 'a role that is not a superuser can grant it';
    END IF;
    IF reason IS NOT NULL THEN
        RAISE EXCEPTION 'role "rag_search_admin" already exists and %', reason
            USING ERRCODE = 'duplicate_object',
                  HINT = format('rag_search grants the backfill functions to this role. Drop or rename the '
                                'existing role (or remove its attributes and admin grants), then run CREATE '
                                'EXTENSION again. If rag_search 0.1.0 created it, ALTER EXTENSION rag_search '
                                'UPDATE in a database using it marks it, or run: COMMENT ON ROLE '
                                'rag_search_admin IS %L', marker);
    END IF;
END $$;

-- The backfill functions run as the extension's owner (SECURITY DEFINER):
-- members of rag_search_admin get EXECUTE on them (backfill_api.sql) and no
-- privilege on any table. Status is for every role that can read the
-- chunks (checked by rag_backfill_status itself); the bookkeeping holds no
-- chunk content.
REVOKE EXECUTE ON FUNCTION rag_search.compact_chunk_counts() FROM PUBLIC;
GRANT SELECT ON rag_search.backfill_failures, rag_search.backfill_state, rag_search.chunk_counts,
    rag_search.index_state
    TO PUBLIC;
