-- What result rows show for chunks $1, with the trigram signals for the
-- query text $2 of the chunks $3 whose signals are not known yet (cheap for
-- a page of results; NULL for the others).
SELECT c.id, d.doc_id, d.title, c.content, c.document_id, c.ordinal,
       CASE WHEN c.id = ANY ($3::bigint[]) THEN @extschema:pg_trgm@.similarity(d.title, $2)::float8 END
           AS title_similarity,
       CASE WHEN c.id = ANY ($3::bigint[]) THEN @extschema:pg_trgm@.word_similarity($2, c.content)::float8 END
           AS lexical_similarity
FROM rag_search.chunks AS c
JOIN rag_search.documents AS d ON d.id = c.document_id
WHERE c.id = ANY ($1::bigint[])
