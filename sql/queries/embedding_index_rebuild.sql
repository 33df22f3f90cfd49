-- $1 dimension: the HNSW index for embeddings of that dimension (see
-- rag_search.embedding_index_rebuild in sql/schema.sql).
SELECT rag_search.embedding_index_rebuild($1)
