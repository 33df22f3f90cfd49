-- The judged queries of an operator's table (@relation@, a name PostgreSQL
-- quoted; columns checked first), read as the caller.
SELECT q.query_id::text AS query_id, q.query::text AS query, NULL::real[] AS query_vector
FROM @relation@ AS q
