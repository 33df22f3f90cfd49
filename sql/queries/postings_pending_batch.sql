-- Up to $1 pending chunk ids, lowest first, and whether chunk deletions
-- wait to be removed from the blocks (at least $2 of them, or a removal
-- pass under way).
SELECT coalesce((SELECT array_agg(b.chunk_id ORDER BY b.chunk_id) FROM (
           SELECT DISTINCT p.chunk_id FROM rag_search.postings_pending AS p
           ORDER BY p.chunk_id LIMIT $1) AS b), '{}') AS batch,
       (SELECT count(*) FROM (SELECT 1 FROM rag_search.postings_pending LIMIT $1) AS s) AS pending,
       (SELECT gc_upto IS NOT NULL FROM rag_search.postings_state)
       OR (SELECT count(*) FROM (SELECT 1 FROM rag_search.postings_dead LIMIT $2) AS d) >= $2 AS removal_due
