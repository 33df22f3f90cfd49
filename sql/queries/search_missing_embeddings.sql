-- Counts chunks without an embedding, stopping at $1 (uses the partial
-- index chunks_missing_embedding, so the cost is bounded by $1).
SELECT count(*) FROM (SELECT 1 FROM rag_search.chunks WHERE embedding IS NULL LIMIT $1) s
