-- Nearest chunks by cosine distance through the HNSW index.
-- $1 query vector (real[]), $2 limit, $3 metadata filter (jsonb or NULL).
SELECT c.id, c.embedding <=> $1::real[]::vector AS distance
FROM rag_search.chunks c
WHERE c.embedding IS NOT NULL
  AND ($3::jsonb IS NULL OR EXISTS (
        SELECT 1 FROM rag_search.documents d WHERE d.id = c.document_id AND d.metadata @> $3::jsonb))
ORDER BY c.embedding <=> $1::real[]::vector
LIMIT $2
