-- The parameters of the last run (what rag_backfill_resume continues with).
SELECT mode, batch_size, batch_sleep_ms, max_chunks, report_every, state, stop_requested, pid
FROM rag_search.backfill_state
