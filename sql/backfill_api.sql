-- Who may operate the backfill: superusers and members of rag_search_admin
-- (created by backfill.sql). Functions are found by name so that this file
-- does not repeat their argument lists.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
        JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid AND d.deptype = 'e'
        WHERE e.extname = 'rag_search'
          AND p.proname IN ('rag_backfill_start', 'rag_backfill_stop', 'rag_backfill_resume',
                            'rag_backfill_retry_failed', 'rag_backfill_step', 'rag_backfill_recount')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO rag_search_admin', f);
    END LOOP;
END $$;

-- One row of backfill progress for psql: TABLE rag_backfill_progress;
CREATE VIEW rag_backfill_progress AS
SELECT total, embedded, missing, failed, coverage_pct, state, pid, batches_done,
       chunks_per_sec, eta, last_error, model, dimension
FROM rag_backfill_status();
