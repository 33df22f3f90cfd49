-- May the current role read the chunks? (By oid: naming the table would
-- already fail without USAGE on its schema.)
SELECT coalesce(bool_and(has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')), false)
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'rag_search' AND c.relname = 'chunks'
