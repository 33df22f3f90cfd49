-- Is the embedding server in a backoff pause? (consecutive failures,
-- milliseconds left of the pause or NULL).
SELECT server_failures,
       CASE WHEN backoff_until > clock_timestamp()
            THEN ceil(extract(epoch FROM backoff_until - clock_timestamp()) * 1000)::bigint END
FROM rag_search.backfill_state
