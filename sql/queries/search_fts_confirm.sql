-- Which of chunks $1 exist (and the caller may see): chunks scored from
-- their postings. A chunk's text never changes, so existence is all that
-- is left to check.
SELECT c.id FROM rag_search.chunks AS c WHERE c.id = ANY ($1::bigint[])
