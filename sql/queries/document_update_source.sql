-- $1 id, $2 title, $3 source, $4 metadata, $5 source_hash (hex)
UPDATE rag_search.documents
SET title = $2, source = $3, metadata = $4, source_hash = decode($5, 'hex'), updated_at = now()
WHERE id = $1
