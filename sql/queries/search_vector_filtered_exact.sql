-- Exact nearest chunks among the documents matching a selective filter
-- (or, $3 NULL, among those row-level security lets the caller see), used
-- when the HNSW scan cannot find enough matching rows. The "+ 0"
-- keeps the planner from using the HNSW index for the ORDER BY.
-- $1 query vector (real[]), $2 limit, $3 metadata filter (jsonb or NULL),
-- $4 source (as in search_fts.sql);
-- @dimension@ as in search_vector.sql.
SELECT c.id, c.embedding OPERATOR(@extschema:vector@.<=>) $1::real[]::@extschema:vector@.vector AS distance
FROM rag_search.documents d
JOIN rag_search.chunks c ON c.document_id = d.id
WHERE ($3::jsonb IS NULL OR d.metadata @> $3::jsonb)
  AND ($4::integer IS NULL OR coalesce(d.attached_source, 0) = $4::integer)
  AND c.embedding_dim = @dimension@
ORDER BY (c.embedding OPERATOR(@extschema:vector@.<=>) $1::real[]::@extschema:vector@.vector) + 0, c.id
LIMIT $2
