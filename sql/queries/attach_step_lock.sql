-- The next source still attaching that role $2 may step ($1: that source
-- only, NULL: any; $3 true: every source), locked for the step; a source
-- another step holds is skipped.
SELECT s.id
FROM rag_search.attached_sources AS s
JOIN pg_catalog.pg_class AS c ON c.oid = s.source_table
WHERE s.state = 'attaching'
  AND ($1::integer IS NULL OR s.id = $1)
  AND ($3 OR pg_catalog.pg_has_role($2, c.relowner, 'USAGE'))
ORDER BY s.id
LIMIT 1
FOR UPDATE OF s SKIP LOCKED
