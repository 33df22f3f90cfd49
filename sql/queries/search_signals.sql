-- Every signal for a candidate set, plus what the result rows show.
-- $1 chunk ids, $2 query vector (real[] or NULL), $3 BM25 query blob,
-- $4 query text.
SELECT c.id, d.doc_id, d.title, c.content, c.document_id, c.ordinal,
       CASE WHEN $2::real[] IS NULL OR c.embedding IS NULL THEN NULL
            ELSE c.embedding OPERATOR(@extschema:vector@.<=>) $2::real[]::@extschema:vector@.vector END AS distance,
       rag_search.bm25(c.tsv, $3) AS bm25,
       @extschema:pg_trgm@.similarity(d.title, $4)::float8 AS title_similarity,
       @extschema:pg_trgm@.word_similarity($4, c.content)::float8 AS lexical_similarity
FROM unnest($1::bigint[]) AS u(id)
JOIN rag_search.chunks c ON c.id = u.id
JOIN rag_search.documents d ON d.id = c.document_id
