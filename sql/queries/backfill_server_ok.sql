-- The embedding server answered again: end the backoff. Writes nothing
-- (and takes no row lock) when there was none.
UPDATE rag_search.backfill_state
SET server_failures = 0, backoff_until = NULL
WHERE server_failures > 0 OR backoff_until IS NOT NULL
