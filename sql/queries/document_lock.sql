-- $1 doc_id, $2 source_hash (hex). Locks the document for the rest of the upsert.
SELECT id, source_hash = decode($2, 'hex') AS same_source
FROM rag_search.documents
WHERE doc_id = $1
FOR UPDATE
