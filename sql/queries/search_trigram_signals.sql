-- The trigram signals of candidates $1 for the query text $2: similarity of
-- the title and word similarity of the chunk's text; and the chunk's
-- document (for the per-document cap).
SELECT c.id, c.document_id,
       @extschema:pg_trgm@.similarity(d.title, $2)::float8 AS title_similarity,
       @extschema:pg_trgm@.word_similarity($2, c.content)::float8 AS lexical_similarity
FROM rag_search.chunks AS c
JOIN rag_search.documents AS d ON d.id = c.document_id
WHERE c.id = ANY ($1::bigint[])
