-- Milliseconds until the earliest failed chunk (model $1, dimension $2)
-- may be tried again; NULL when none is waiting.
SELECT CASE WHEN count(*) > 0
            THEN greatest(0, ceil(extract(epoch FROM min(f.next_retry_at) - clock_timestamp()) * 1000))::bigint END
FROM rag_search.backfill_failures AS f
JOIN rag_search.chunks AS c ON c.id = f.chunk_id
WHERE NOT f.parked
  AND f.embedding_model = $1 AND f.embedding_dim = $2
  AND c.embedding IS NULL AND c.content_hash = f.content_hash
