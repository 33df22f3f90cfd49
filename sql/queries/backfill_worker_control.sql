-- Read by the worker before every batch: (generation, stop requested,
-- ms left of a backoff pause or NULL).
SELECT generation, stop_requested,
       CASE WHEN backoff_until > clock_timestamp()
            THEN ceil(extract(epoch FROM backoff_until - clock_timestamp()) * 1000)::bigint END
FROM rag_search.backfill_state
