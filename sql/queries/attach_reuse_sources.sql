-- Sources whose embedding column holds model $1 at dimension $2: their
-- vectors are reused and the backfill fills their NULLs.
SELECT s.id FROM rag_search.attached_sources AS s
WHERE s.embedding_column IS NOT NULL AND s.embedding_model = $1 AND s.embedding_dim = $2
