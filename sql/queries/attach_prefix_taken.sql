-- What already uses doc_id prefix $1: another source, or documents written
-- by the ingestion functions whose doc_id starts with $1 followed by ':'.
SELECT (SELECT s.source_table::text FROM rag_search.attached_sources AS s WHERE s.doc_id_prefix = $1) AS source,
       (SELECT d.doc_id FROM rag_search.documents AS d
        WHERE d.attached_source IS NULL AND starts_with(d.doc_id, $1 || ':') LIMIT 1) AS document
