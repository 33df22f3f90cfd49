-- The exact BM25 ($2 query blob) of chunks $1 that exist, still contain a
-- query lexeme ($3) and that the caller may see. The chunks are found by id
-- first (a fence): with the tsquery a parameter, the planner prices a
-- bitmap AND with the GIN index below the id lookup, which reads every
-- chunk of the query's most common lexeme (~5 ms at 100k chunks, run once
-- per round of the cascade).
WITH listed AS MATERIALIZED (
    SELECT c.id, c.tsv FROM rag_search.chunks AS c WHERE c.id = ANY ($1::bigint[])
)
SELECT l.id, rag_search.bm25(l.tsv, $2) AS score
FROM listed AS l
WHERE l.tsv @@ $3::tsquery
