-- After a batch: $1 embedded, $2 failed, $3 HTTP requests; the lease keeps
-- only $4, the batches still in flight. Returns the batches done in this
-- run.
UPDATE rag_search.backfill_state
SET batches_done = batches_done + 1,
    chunks_embedded = chunks_embedded + $1,
    chunks_failed = chunks_failed + $2,
    http_requests = http_requests + $3,
    last_batch_at = now(),
    claimed_ids = $4::bigint[],
    claim_expires_at = CASE WHEN cardinality($4::bigint[]) > 0 THEN claim_expires_at END
RETURNING batches_done, chunks_embedded, chunks_failed
