-- The table $1 (oid) as an attach sees it: names, kind, whether the role
-- $2 owns it, and the columns of its primary key in key order.
SELECT c.oid::regclass::text AS name, n.nspname::text AS schema, c.relname::text AS relname,
       c.relkind::text AS kind, pg_catalog.pg_has_role($2, c.relowner, 'USAGE') AS owned,
       ARRAY(SELECT a.attname::text
             FROM pg_catalog.pg_index AS i
             CROSS JOIN LATERAL unnest(i.indkey::smallint[]) WITH ORDINALITY AS k(attnum, position)
             JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = c.oid AND i.indisprimary
             ORDER BY k.position) AS primary_key
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.oid = $1
