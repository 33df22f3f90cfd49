-- $1 doc_id, $2 title, $3 source, $4 metadata, $5 source_hash (hex)
-- Returns the new row's id, or nothing when doc_id already exists.
INSERT INTO rag_search.documents (doc_id, title, source, metadata, source_hash)
VALUES ($1, $2, $3, $4, decode($5, 'hex'))
ON CONFLICT (doc_id) DO NOTHING
RETURNING id
