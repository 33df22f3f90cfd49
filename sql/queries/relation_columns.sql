-- The columns of relation $1, with what rag_core::evaluate::ColumnKind
-- needs: the type's name and category, its element type's name for an
-- array, whether it is pgvector's vector, the type as PostgreSQL writes
-- it, and whether the caller may read the column.
SELECT a.attname::text AS name,
       t.typname::text AS type_name,
       t.typcategory::text AS category,
       e.typname::text AS element,
       coalesce(t.typname = 'vector' AND t.typnamespace =
           (SELECT x.extnamespace FROM pg_catalog.pg_extension AS x WHERE x.extname = 'vector'), false) AS is_vector,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS shown,
       pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT') AS readable
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type AS e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
