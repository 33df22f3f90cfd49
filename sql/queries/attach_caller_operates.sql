-- Whether role $1 is a superuser or a member of rag_search_admin (the
-- backfill's operators): such roles may step any attach.
SELECT r.rolsuper OR coalesce(pg_catalog.pg_has_role($1, 'rag_search_admin', 'MEMBER'), false) AS operates
FROM pg_catalog.pg_roles AS r
WHERE r.oid = $1
