-- The judgments of an operator's table (@relation@, a name PostgreSQL
-- quoted; columns checked first), read as the caller.
SELECT j.query_id::text AS query_id, j.doc_id::text AS doc_id, j.relevance::bigint AS relevance
FROM @relation@ AS j
