-- One merger at a time (rag_search.postings_merge); held until the
-- transaction ends, also by rag_search.postings_rebuild.
SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('rag_search.postings_merge'))
