-- Merged chunks containing any lexeme of the tsquery $1 (an OR of quoted
-- lexemes): the postings of lexemes that become indexed. Chunks of the
-- batch being merged ($2) and chunks still pending are left out: their
-- postings come from their own merge.
SELECT c.id, c.tsv
FROM rag_search.chunks AS c
WHERE c.tsv @@ $1::tsquery
  AND c.id <> ALL ($2::bigint[])
  AND NOT EXISTS (SELECT FROM rag_search.postings_pending AS p WHERE p.chunk_id = c.id)
