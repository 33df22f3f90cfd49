-- Whether the current role owns (or is a member of the owner of) the chunks
-- table, as ALTER TABLE and CREATE INDEX on it require.
SELECT pg_catalog.pg_has_role(c.relowner, 'USAGE')
FROM pg_catalog.pg_class AS c
WHERE c.oid = 'rag_search.chunks'::regclass
