-- The schema-qualified, quoted name of relation $1 (an operator's table
-- given as regclass), as PostgreSQL quotes identifiers: what replaces
-- @relation@ in the evaluation statements; and its kind (only tables,
-- views, materialized views and foreign tables hold rows to read).
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
       c.relkind::text AS kind
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.oid = $1
