-- Records a step of source $1: $2 the phase now (NULL: attached), $3 the
-- last key walked in it, $4 rows walked, $5 milliseconds spent.
UPDATE rag_search.attached_sources
SET phase = $2, cursor_key = $3,
    rows_done = rows_done + $4, busy_ms = busy_ms + $5,
    state = CASE WHEN $2 IS NULL THEN 'attached' ELSE 'attaching' END,
    completed_at = CASE WHEN $2 IS NULL THEN now() END
WHERE id = $1
