-- $1 doc_ids. Locks the existing documents for the rest of the upsert, in
-- id order so concurrent batches lock in the same order.
SELECT id, doc_id, encode(source_hash, 'hex') AS source_hash, title
FROM rag_search.documents
WHERE doc_id = ANY ($1::text[])
ORDER BY id
FOR UPDATE
