-- $1 doc_id. Chunks go with it (ON DELETE CASCADE).
DELETE FROM rag_search.documents WHERE doc_id = $1 RETURNING id
