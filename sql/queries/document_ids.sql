-- The doc_id of documents $1 (rag_search.documents.id), read as the caller.
SELECT d.id, d.doc_id
FROM rag_search.documents AS d
WHERE d.id = ANY ($1::bigint[])
