-- Keeps the newest $1 cache entries.
DELETE FROM rag_search.query_embedding_cache
WHERE created_at < (SELECT created_at FROM rag_search.query_embedding_cache
                    ORDER BY created_at DESC OFFSET $1 LIMIT 1)
