-- $1 pid, $2 generation: the worker is running.
UPDATE rag_search.backfill_state
SET state = 'running', pid = $1, started_at = now(), stopped_at = NULL, claimed_ids = '{}',
    claim_expires_at = NULL
WHERE generation = $2
