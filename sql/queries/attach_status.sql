-- rag_source_status: the documents written by the ingestion functions
-- (source rag_search.documents, id NULL) and every attached source, with
-- their projected documents and chunks, embedded chunks and chunks parked
-- by the backfill for the current model (a scan of the chunks).
WITH target AS (
    SELECT embedding_model, embedding_dim FROM rag_search.index_state
), parked AS (
    SELECT f.chunk_id
    FROM rag_search.backfill_failures AS f, target AS t
    WHERE f.parked AND f.embedding_model = t.embedding_model AND f.embedding_dim = t.embedding_dim
), chunk_counts AS (
    SELECT d.attached_source AS id, count(*) AS chunks, count(c.embedding) AS embedded,
           count(p.chunk_id) FILTER (WHERE c.embedding IS NULL) AS failed
    FROM rag_search.chunks AS c
    JOIN rag_search.documents AS d ON d.id = c.document_id
    LEFT JOIN parked AS p ON p.chunk_id = c.id
    GROUP BY d.attached_source
), document_counts AS (
    SELECT d.attached_source AS id, count(*) AS documents FROM rag_search.documents AS d GROUP BY d.attached_source
), sources AS (
    SELECT NULL::integer AS id, 'rag_search.documents' AS source, 'ingested' AS kind, NULL::text AS pages,
           NULL::text AS doc_id_prefix, NULL::text AS state, NULL::text AS phase, NULL::bigint AS rows_done,
           NULL::bigint AS rows_total, NULL::bigint AS busy_ms, NULL::timestamptz AS attached_at,
           NULL::timestamptz AS completed_at
    UNION ALL
    SELECT s.id, s.source_table::text, CASE WHEN s.page_table IS NULL THEN 'documents' ELSE 'pages' END,
           s.page_table::text, s.doc_id_prefix, s.state, s.phase, s.rows_done, s.rows_total, s.busy_ms,
           s.attached_at, s.completed_at
    FROM rag_search.attached_sources AS s
)
SELECT src.source, src.kind, src.pages, src.doc_id_prefix, src.state, src.phase, src.rows_done, src.rows_total,
       src.busy_ms, coalesce(dc.documents, 0) AS documents, coalesce(cc.chunks, 0) AS chunks,
       coalesce(cc.embedded, 0) AS embedded, coalesce(cc.failed, 0) AS failed, src.attached_at, src.completed_at
FROM sources AS src
LEFT JOIN document_counts AS dc ON dc.id IS NOT DISTINCT FROM src.id
LEFT JOIN chunk_counts AS cc ON cc.id IS NOT DISTINCT FROM src.id
ORDER BY src.id NULLS FIRST
