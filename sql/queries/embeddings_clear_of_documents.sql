-- $1 document ids. Their chunks' embeddings become stale (the title they
-- were built with changed) and wait for the backfill again.
UPDATE rag_search.chunks
SET embedding = NULL, embedding_model = NULL, embedding_dim = NULL, embedded_at = NULL
WHERE document_id = ANY ($1::bigint[]) AND embedding IS NOT NULL
RETURNING id
