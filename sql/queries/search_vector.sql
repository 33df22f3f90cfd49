-- Nearest chunks by cosine distance through the HNSW index, an expression
-- index at the current dimension over the rows of that dimension (see
-- rag_search.embedding_index_rebuild): the ORDER BY repeats its expression.
-- $1 query vector (real[]), $2 limit, $3 metadata filter (jsonb or NULL),
-- $4 source (as in search_fts.sql).
-- @dimension@ is the dimension in index_state, an integer placed by the
-- caller (an index expression cannot take a parameter).
SELECT c.id,
       c.embedding::@extschema:vector@.vector(@dimension@)
           OPERATOR(@extschema:vector@.<=>) $1::real[]::@extschema:vector@.vector AS distance
FROM rag_search.chunks c
WHERE c.embedding_dim = @dimension@
  AND (($3::jsonb IS NULL AND $4::integer IS NULL) OR EXISTS (
        SELECT 1 FROM rag_search.documents d
        WHERE d.id = c.document_id
          AND ($3::jsonb IS NULL OR d.metadata @> $3::jsonb)
          AND ($4::integer IS NULL OR coalesce(d.attached_source, 0) = $4::integer)))
ORDER BY c.embedding::@extschema:vector@.vector(@dimension@)
             OPERATOR(@extschema:vector@.<=>) $1::real[]::@extschema:vector@.vector
LIMIT $2
