-- rag_backfill_resume on a worker that has not acted on a stop request yet.
UPDATE rag_search.backfill_state
SET stop_requested = false, stop_reason = NULL
WHERE stop_requested AND state IN ('starting', 'running')
RETURNING pid
