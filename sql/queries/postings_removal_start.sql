-- Where the pass removing deleted chunks from the blocks stands; starts a
-- pass (up to the newest deletion) when none is under way. Returns the
-- pass's limit and cursor, and the deleted chunk ids it removes.
WITH started AS (
    UPDATE rag_search.postings_state
    SET gc_upto = coalesce(gc_upto, (SELECT max(seq) FROM rag_search.postings_dead))
    RETURNING gc_upto, gc_lexeme, gc_cell, gc_block
)
SELECT s.gc_upto, s.gc_lexeme, s.gc_cell, s.gc_block,
       coalesce((SELECT array_agg(DISTINCT d.chunk_id) FROM rag_search.postings_dead AS d WHERE d.seq <= s.gc_upto),
                '{}') AS dead
FROM started AS s
