-- Deletes the documents $2 (doc_ids) of source $1; their chunks go with
-- them.
DELETE FROM rag_search.documents WHERE attached_source = $1 AND doc_id = ANY ($2::text[])
