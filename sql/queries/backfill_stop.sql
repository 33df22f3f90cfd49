-- rag_backfill_stop: $1 whether a worker is alive. A live worker is asked
-- to stop after its current batch; either way the backfill stays stopped
-- (also across restarts) until rag_backfill_resume().
UPDATE rag_search.backfill_state
SET stop_requested = $1,
    stop_reason = 'operator',
    state = CASE WHEN $1 THEN state ELSE 'stopped' END,
    stopped_at = CASE WHEN $1 THEN stopped_at ELSE now() END
RETURNING pid
