-- Privileges, once every function exists (this file is the extension
-- script's last part).
--
-- Who may operate the backfill: superusers and members of rag_search_admin
-- (created by backfill.sql). The backfill functions run as the extension's
-- owner (SECURITY DEFINER, pinned search_path), so their members need no
-- privilege on any table. Functions are found by name so that this file
-- does not repeat their argument lists.
--
-- Internal functions in the schema rag_search (trigger functions, statistics
-- maintenance, index rebuilds) are not executable by PUBLIC; the pure
-- functions that queries and the stored tsvector use stay executable.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure AS sig, p.proname, p.pronamespace = 'rag_search'::regnamespace AS internal
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
        JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid AND d.deptype = 'e'
        WHERE e.extname = 'rag_search'
    LOOP
        IF f.proname IN ('rag_backfill_start', 'rag_backfill_stop', 'rag_backfill_resume',
                         'rag_backfill_retry_failed', 'rag_backfill_step', 'rag_backfill_recount') THEN
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f.sig);
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO rag_search_admin', f.sig);
        ELSIF f.internal AND f.proname NOT IN ('bm25', 'document_frequencies', 'entity_keys', 'index_text', 'index_tsvector', 'chunk_tsvector') THEN
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f.sig);
        END IF;
    END LOOP;
END $$;

-- One row of backfill progress for psql: TABLE rag_backfill_progress;
CREATE VIEW rag_backfill_progress AS
SELECT total, embedded, missing, failed, coverage_pct, state, pid, batches_done,
       chunks_per_sec, eta, last_error, model, dimension
FROM rag_backfill_status();
-- For every role: rag_backfill_status() itself answers only roles that can
-- read the chunks.
GRANT SELECT ON rag_backfill_progress TO PUBLIC;
