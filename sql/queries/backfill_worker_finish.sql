-- The worker of generation $3 ends: recorded state $1 (stopped or
-- finished), reason $2.
UPDATE rag_search.backfill_state
SET state = $1, stop_reason = $2, stop_requested = false, stopped_at = now(),
    claimed_ids = '{}', claim_expires_at = NULL
WHERE generation = $3
