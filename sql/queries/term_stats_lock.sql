-- Waits for and takes the statistics compactor's lock (see
-- rag_search.term_stats_compact in sql/search.sql) until the end of the
-- transaction. Taken before DDL on the chunks table, so that a rebuild never
-- holds the table's exclusive lock while waiting for a compacting ingester,
-- which may itself be about to write chunks.
SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('rag_search.term_stats_compact'))
