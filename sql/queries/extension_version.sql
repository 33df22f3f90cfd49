-- The version of rag_search's SQL objects in this database (NULL when the
-- extension is not installed).
SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'rag_search'
