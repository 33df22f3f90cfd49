-- Ends the worker's lease without counting a batch; $1 HTTP requests sent.
UPDATE rag_search.backfill_state
SET claimed_ids = '{}', claim_expires_at = NULL, http_requests = http_requests + $1
