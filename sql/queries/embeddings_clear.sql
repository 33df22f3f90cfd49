-- Marks every embedding stale for a model switch that keeps the dimension.
UPDATE rag_search.chunks
SET embedding = NULL, embedding_model = NULL, embedding_dim = NULL, embedded_at = NULL
WHERE embedding IS NOT NULL
