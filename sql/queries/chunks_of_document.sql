-- $1 document id
SELECT id, ordinal, encode(content_hash, 'hex') AS content_hash
FROM rag_search.chunks
WHERE document_id = $1
ORDER BY ordinal
