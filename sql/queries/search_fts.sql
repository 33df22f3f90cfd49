-- Full-text candidates ranked by BM25.
-- $1 tsquery text (OR of lexemes), $2 BM25 query blob, $3 limit,
-- $4 metadata filter (jsonb, NULL for none), $5 source (options.source: 0
-- for the documents of the ingestion functions, else an attached source;
-- NULL: all).
-- The @@ condition is answered by the GIN index chunks_tsv_gin; BM25 is
-- computed only for matching rows.
SELECT c.id, c.document_id, rag_search.bm25(c.tsv, $2) AS score
FROM rag_search.chunks c
WHERE c.tsv @@ $1::tsquery
  AND (($4::jsonb IS NULL AND $5::integer IS NULL) OR EXISTS (
        SELECT 1 FROM rag_search.documents d
        WHERE d.id = c.document_id
          AND ($4::jsonb IS NULL OR d.metadata @> $4::jsonb)
          AND ($5::integer IS NULL OR coalesce(d.attached_source, 0) = $5::integer)))
ORDER BY score DESC, c.id
LIMIT $3
