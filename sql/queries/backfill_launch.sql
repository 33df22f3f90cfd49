-- rag_backfill_start / rag_backfill_resume record a launch: $1 mode,
-- $2 batch size, $3 batch sleep (ms), $4 max chunks, $5 report every,
-- $6 true to reset the run counters (start) or false to keep them (resume).
-- Returns the generation the new worker serves.
UPDATE rag_search.backfill_state
SET generation = generation + 1,
    state = 'starting',
    stop_requested = false,
    stop_reason = NULL,
    mode = $1, batch_size = $2, batch_sleep_ms = $3, max_chunks = $4, report_every = $5,
    requested_at = now(),
    pid = NULL,
    batches_done = CASE WHEN $6 THEN 0 ELSE batches_done END,
    chunks_embedded = CASE WHEN $6 THEN 0 ELSE chunks_embedded END,
    chunks_failed = CASE WHEN $6 THEN 0 ELSE chunks_failed END,
    http_requests = CASE WHEN $6 THEN 0 ELSE http_requests END,
    server_failures = 0,
    backoff_until = NULL
RETURNING generation
