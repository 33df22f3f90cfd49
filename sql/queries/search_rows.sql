-- What result rows show for chunks $1, with the trigram signals for the
-- query text $2 (cheap for a page of results).
SELECT c.id, d.doc_id, d.title, c.content, c.document_id, c.ordinal,
       @extschema:pg_trgm@.similarity(d.title, $2)::float8 AS title_similarity,
       @extschema:pg_trgm@.word_similarity($2, c.content)::float8 AS lexical_similarity
FROM rag_search.chunks AS c
JOIN rag_search.documents AS d ON d.id = c.document_id
WHERE c.id = ANY ($1::bigint[])
