-- The document a walk of rag_related_documents starts from: $1 doc_id.
SELECT d.id, d.metadata
FROM rag_search.documents AS d
WHERE d.doc_id = $1
