-- $1 cache key, $2 embedding
INSERT INTO rag_search.query_embedding_cache (key, embedding)
VALUES ($1, $2)
ON CONFLICT (key) DO NOTHING
