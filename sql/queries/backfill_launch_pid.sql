-- $1 pid of the launched worker, for generation $2.
UPDATE rag_search.backfill_state SET pid = $1 WHERE generation = $2
