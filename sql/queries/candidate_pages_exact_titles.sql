-- Documents whose title is the query text $1 up to case (they rank first
-- in rag_candidate_pages), at most $2, of source $3 (as in search_fts.sql;
-- NULL: all). The title trigram GIN index answers the ILIKE pattern (the
-- text with its wildcards escaped) from the postings of every trigram of
-- the text, so only titles holding all of them are read; `lower(...) =`
-- keeps the match exact. E'' strings read the same whatever the
-- session's standard_conforming_strings.
SELECT d.id
FROM rag_search.documents d
WHERE d.title ILIKE replace(replace(replace($1, E'\\', E'\\\\'), '%', E'\\%'), '_', E'\\_')
  AND lower(d.title) = lower($1)
  AND ($3::integer IS NULL OR coalesce(d.attached_source, 0) = $3::integer)
ORDER BY d.id
LIMIT $2
