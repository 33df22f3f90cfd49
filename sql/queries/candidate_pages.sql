-- Pages (documents) from full-text chunk hits, unioned with documents
-- whose title is trigram-similar to the query.
-- $1 hit chunk ids, $2 their BM25 scores, $3 query text, $4 limit.
WITH hits AS (
    SELECT h.chunk_id, c.document_id, h.score
    FROM unnest($1::bigint[], $2::float8[]) AS h(chunk_id, score)
    JOIN rag_search.chunks AS c ON c.id = h.chunk_id
), pages AS (
    SELECT document_id, max(score) AS rank, count(*) AS hit_chunks,
           (array_agg(chunk_id ORDER BY score DESC, chunk_id))[1] AS best_chunk_id
    FROM hits GROUP BY document_id
), titles AS (
    SELECT d.id AS document_id
    FROM rag_search.documents d
    WHERE d.title OPERATOR(@extschema:pg_trgm@.%) $3
    ORDER BY @extschema:pg_trgm@.similarity(d.title, $3) DESC, d.id
    LIMIT $4
)
SELECT d.doc_id, d.title, coalesce(p.rank, 0)::float8 AS rank,
       coalesce(p.hit_chunks, 0)::integer AS hit_chunks, p.best_chunk_id,
       @extschema:pg_trgm@.similarity(d.title, $3)::float8 AS title_score
FROM (SELECT document_id FROM pages UNION SELECT document_id FROM titles) AS u
JOIN rag_search.documents d ON d.id = u.document_id
LEFT JOIN pages p ON p.document_id = u.document_id
ORDER BY lower(d.title) = lower($3) DESC, rank DESC, hit_chunks DESC, title_score DESC, d.doc_id
LIMIT $4
