-- The cheap signals of candidates $1: cosine distance to the query vector
-- $2 (real[] or NULL) for chunks embedded at dimension $4, and BM25 for the
-- query blob $3.
SELECT c.id,
       CASE WHEN $2::real[] IS NULL OR c.embedding_dim IS DISTINCT FROM $4 THEN NULL
            ELSE c.embedding OPERATOR(@extschema:vector@.<=>) $2::real[]::@extschema:vector@.vector
       END AS distance,
       rag_search.bm25(c.tsv, $3) AS bm25
FROM rag_search.chunks AS c
WHERE c.id = ANY ($1::bigint[])
