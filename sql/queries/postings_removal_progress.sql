-- Moves the removal pass's cursor to ($1, $2, $3); with $4 the pass is
-- complete: the deleted chunks it covered are forgotten.
WITH forgotten AS (
    DELETE FROM rag_search.postings_dead AS d
    USING rag_search.postings_state AS s
    WHERE $4 AND d.seq <= s.gc_upto
)
UPDATE rag_search.postings_state
SET gc_lexeme = CASE WHEN $4 THEN NULL ELSE $1::text END,
    gc_cell = CASE WHEN $4 THEN NULL ELSE $2::smallint END,
    gc_block = CASE WHEN $4 THEN NULL ELSE $3::integer END,
    gc_upto = CASE WHEN $4 THEN NULL ELSE gc_upto END
