-- Dimension switch: one table rewrite that empties every embedding, then the
-- HNSW index is rebuilt for the new dimension. %s is an integer validated by
-- the caller (DDL takes no parameters).
DROP INDEX IF EXISTS rag_search.chunks_embedding_hnsw;
ALTER TABLE rag_search.chunks
    ALTER COLUMN embedding TYPE vector(%s) USING NULL,
    ALTER COLUMN embedding_model TYPE text USING NULL,
    ALTER COLUMN embedding_dim TYPE integer USING NULL,
    ALTER COLUMN embedded_at TYPE timestamptz USING NULL;
CREATE INDEX chunks_embedding_hnsw ON rag_search.chunks USING hnsw (embedding vector_cosine_ops);
