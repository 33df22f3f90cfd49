-- A server-started worker adopts the state row: $1 mode, $2 batch size,
-- $3 batch sleep (ms), $4 max chunks, $5 report every. Returns the new
-- generation.
UPDATE rag_search.backfill_state
SET generation = generation + 1,
    state = 'starting', stop_requested = false, stop_reason = NULL,
    mode = $1, batch_size = $2, batch_sleep_ms = $3, max_chunks = $4, report_every = $5,
    requested_at = now(),
    batches_done = 0, chunks_embedded = 0, chunks_failed = 0, http_requests = 0,
    server_failures = 0, backoff_until = NULL
RETURNING generation
