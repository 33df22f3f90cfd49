-- Whether the current role may write documents and chunks (an ingestion
-- role), checked by oid: naming the tables would already fail without
-- USAGE on their schema.
SELECT coalesce(bool_and(has_schema_privilege(n.oid, 'USAGE')
                         AND has_table_privilege(k.oid, 'INSERT, UPDATE, DELETE')), false) AS allowed
FROM pg_catalog.pg_class AS k
JOIN pg_catalog.pg_namespace AS n ON n.oid = k.relnamespace
WHERE n.nspname = 'rag_search' AND k.relname IN ('documents', 'chunks')
