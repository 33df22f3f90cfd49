-- $1 document ids
SELECT document_id, count(*)::integer AS chunks
FROM rag_search.chunks
WHERE document_id = ANY ($1::bigint[])
GROUP BY document_id
