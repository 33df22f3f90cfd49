-- The exact BM25 ($2 query blob) of chunks $1 that exist, still contain a
-- query lexeme ($3) and that the caller may see.
SELECT c.id, rag_search.bm25(c.tsv, $2) AS score
FROM rag_search.chunks AS c
WHERE c.id = ANY ($1::bigint[]) AND c.tsv @@ $3::tsquery
