-- Chunk totals from the counter deltas, and the failures of model $1 /
-- dimension $2: (total, embedded, parked, retrying).
SELECT (SELECT coalesce(sum(chunks), 0)::bigint FROM rag_search.chunk_counts),
       (SELECT coalesce(sum(embedded), 0)::bigint FROM rag_search.chunk_counts),
       count(*) FILTER (WHERE f.parked),
       count(*) FILTER (WHERE NOT f.parked)
FROM rag_search.backfill_failures AS f
WHERE f.embedding_model = $1 AND f.embedding_dim = $2
