-- $1 cache key, $2 embedding, $3 trim interval. Returns whether this insert
-- is the one that trims (one in $3 across all sessions).
WITH inserted AS (
    INSERT INTO rag_search.query_embedding_cache (key, embedding)
    VALUES ($1, $2)
    ON CONFLICT (key) DO NOTHING
    RETURNING 1
)
SELECT pg_catalog.nextval('rag_search.query_embedding_cache_inserts') % $3 = 0 AS trim_due
FROM inserted
