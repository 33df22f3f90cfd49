-- The embedding server failed a batch as a whole: $1 consecutive failures,
-- pause for $2 ms, $3 the error.
UPDATE rag_search.backfill_state
SET server_failures = $1,
    backoff_until = clock_timestamp() + $2 * interval '1 millisecond',
    last_error = $3,
    last_error_at = now()
