-- $1 the latest error (shown by rag_backfill_status).
UPDATE rag_search.backfill_state SET last_error = $1, last_error_at = now()
