-- Lexical candidates besides the full-text ones: the chunks of documents
-- whose title is trigram-similar to the query (GIN documents_title_trgm),
-- most similar first. $1 query text, $2 limit, $3 metadata filter (jsonb or
-- NULL), $4 source (as in search_fts.sql).
SELECT c.id
FROM rag_search.documents d
JOIN rag_search.chunks c ON c.document_id = d.id
WHERE d.title OPERATOR(@extschema:pg_trgm@.%) $1
  AND ($3::jsonb IS NULL OR d.metadata @> $3::jsonb)
  AND ($4::integer IS NULL OR coalesce(d.attached_source, 0) = $4::integer)
ORDER BY @extschema:pg_trgm@.similarity(d.title, $1) DESC, c.id
LIMIT $2
