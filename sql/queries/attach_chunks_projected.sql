-- The projected chunks of source $1 for chunk keys $2.
SELECT c.id, c.source_key, c.document_id, c.ordinal, c.content_hash
FROM rag_search.chunks AS c
JOIN rag_search.documents AS d ON d.id = c.document_id
WHERE c.source_key = ANY ($2::text[]) AND d.attached_source = $1
