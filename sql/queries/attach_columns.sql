-- The columns of table $1 (oid): type (as SQL), category, whether it is an
-- integer, jsonb or pgvector's vector (with its declared dimension), and
-- whether values compare with a built-in equality (others are compared as
-- text, since only pg_catalog is on the search_path).
SELECT a.attname::text AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name,
       t.typcategory::text AS category,
       a.atttypid IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype) AS integer,
       a.atttypid = 'pg_catalog.jsonb'::regtype AS jsonb,
       t.typname = 'vector' AND t.typnamespace = (SELECT e.extnamespace FROM pg_catalog.pg_extension AS e
                                                  WHERE e.extname = 'vector') AS vector,
       CASE WHEN a.atttypmod > 0 THEN a.atttypmod END AS typmod,
       t.typnamespace = 'pg_catalog'::regnamespace
       AND EXISTS (SELECT FROM pg_catalog.pg_opclass AS o JOIN pg_catalog.pg_am AS am ON am.oid = o.opcmethod
                   WHERE am.amname = 'btree' AND o.opcdefault AND o.opcintype = a.atttypid) AS comparable
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
