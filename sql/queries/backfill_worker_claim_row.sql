-- A worker takes over the state row. Waits for the launching transaction to
-- commit (it holds this row's lock), then reads what it committed.
SELECT generation, state, stop_requested, stop_reason, mode, batch_size, batch_sleep_ms,
       max_chunks, report_every
FROM rag_search.backfill_state
FOR UPDATE
