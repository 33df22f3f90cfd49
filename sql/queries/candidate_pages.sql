-- Pages (documents) from full-text chunk hits, unioned with the documents
-- whose title is the query up to case (found before, $5).
-- $1 hit chunk ids, $2 their BM25 scores, $3 query text, $4 limit,
-- $5 document ids. Order: an exact title match, best chunk score, number
-- of hit chunks, title similarity — computed only for the pages that reach
-- the first $4 places on the other keys (ties included). `exact` tells the
-- caller which rows no further chunk hit can displace (with those that
-- have hits).
WITH hits AS (
    SELECT h.chunk_id, c.document_id, h.score
    FROM unnest($1::bigint[], $2::float8[]) AS h(chunk_id, score)
    JOIN rag_search.chunks AS c ON c.id = h.chunk_id
), pages AS (
    SELECT document_id, max(score) AS rank, count(*) AS hit_chunks,
           (array_agg(chunk_id ORDER BY score DESC, chunk_id))[1] AS best_chunk_id
    FROM hits GROUP BY document_id
), ranked AS (
    SELECT d.id, d.doc_id, d.title, lower(d.title) = lower($3) AS exact,
           coalesce(p.rank, 0)::float8 AS rank, coalesce(p.hit_chunks, 0)::integer AS hit_chunks, p.best_chunk_id
    FROM (SELECT document_id FROM pages UNION SELECT unnest($5::bigint[])) AS u(document_id)
    JOIN rag_search.documents d ON d.id = u.document_id
    LEFT JOIN pages p ON p.document_id = u.document_id
), cut AS (
    SELECT exact, rank, hit_chunks FROM ranked
    ORDER BY exact DESC, rank DESC, hit_chunks DESC
    OFFSET $4 - 1 LIMIT 1
)
SELECT r.doc_id, r.title, r.rank, r.hit_chunks, r.best_chunk_id,
       @extschema:pg_trgm@.similarity(r.title, $3)::float8 AS title_score, r.exact
FROM ranked AS r
WHERE NOT EXISTS (SELECT FROM cut)
   OR (r.exact, r.rank, r.hit_chunks) >= (SELECT exact, rank, hit_chunks FROM cut)
ORDER BY r.exact DESC, r.rank DESC, r.hit_chunks DESC, title_score DESC, r.doc_id
LIMIT $4
