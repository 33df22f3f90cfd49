-- The attached sources a search option names ($1): those with a document,
-- chunk or page table of that name, schema-qualified or bare.
SELECT s.id, s.source_table::text AS name
FROM rag_search.attached_sources AS s
JOIN pg_catalog.pg_class AS c ON c.oid IN (s.source_table, s.page_table)
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE $1 IN (c.oid::regclass::text, n.nspname || '.' || c.relname, c.relname)
GROUP BY s.id
