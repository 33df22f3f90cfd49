-- Deletes every document of source $1 (a TRUNCATE of its document or
-- page table); their chunks go with them.
DELETE FROM rag_search.documents WHERE attached_source = $1
