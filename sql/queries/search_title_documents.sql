-- Documents whose title is trigram-similar to the query text $1 (GIN
-- documents_title_trgm), most similar first, at most $2, of source $3 (as
-- in search_fts.sql; NULL: all).
SELECT d.id
FROM rag_search.documents d
WHERE d.title OPERATOR(@extschema:pg_trgm@.%) $1
  AND ($3::integer IS NULL OR coalesce(d.attached_source, 0) = $3::integer)
ORDER BY @extschema:pg_trgm@.similarity(d.title, $1) DESC, d.id
LIMIT $2
