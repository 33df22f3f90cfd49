-- $1 document ids
SELECT id, document_id, ordinal, encode(content_hash, 'hex') AS content_hash
FROM rag_search.chunks
WHERE document_id = ANY ($1::bigint[])
ORDER BY document_id, ordinal
