-- Rebuilds the chunk counters from the table (e.g. after embeddings were
-- written by hand). SHARE blocks writers for the count, not readers.
LOCK TABLE rag_search.chunks IN SHARE MODE;
DELETE FROM rag_search.chunk_counts;
INSERT INTO rag_search.chunk_counts (chunks, embedded)
SELECT count(*), count(embedding) FROM rag_search.chunks;
