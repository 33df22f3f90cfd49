-- Whether the current role may read the chunks, checked by oid: naming the
-- table would already fail without USAGE on its schema.
SELECT coalesce(bool_and(has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(k.oid, 'SELECT')), false)
       AS allowed
FROM pg_catalog.pg_class AS k
JOIN pg_catalog.pg_namespace AS n ON n.oid = k.relnamespace
WHERE n.nspname = 'rag_search' AND k.relname = 'chunks'
