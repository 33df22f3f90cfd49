-- Full text, before the postings are read: the exact BM25 ($4 query blob)
-- of every chunk containing a query lexeme that has no postings ($1, an
-- OR-tsquery of those lexemes, NULL when there is none: such lexemes are
-- rare, the GIN index finds their few chunks) and of every chunk not yet
-- merged into the postings ($2 ids) that contains any query lexeme ($3).
-- The pending chunks are found by id first (a fence, as in
-- search_fts_rescore.sql: $3 holds common lexemes, whose GIN entries the
-- planner would otherwise read and AND with the ids).
WITH pending AS MATERIALIZED (
    SELECT c.id, c.tsv FROM rag_search.chunks AS c WHERE c.id = ANY ($2::bigint[])
)
SELECT c.id, rag_search.bm25(c.tsv, $4) AS score
FROM rag_search.chunks AS c
WHERE $1::text IS NOT NULL AND c.tsv @@ $1::tsquery
UNION
SELECT p.id, rag_search.bm25(p.tsv, $4) AS score
FROM pending AS p
WHERE p.tsv @@ $3::tsquery
