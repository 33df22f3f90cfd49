-- rag_backfill_step, after backfill_claim_step.sql took the advisory locks:
-- the chunks of $1 (content hashes $2) that still have no embedding and the
-- same content, seen by a new snapshot. A caller that embedded them and
-- released its locks has committed by then, so READ COMMITTED callers never
-- embed a chunk twice.
SELECT c.id
FROM rag_search.chunks AS c
JOIN unnest($1::bigint[], $2::bytea[]) AS t(id, content_hash)
  ON c.id = t.id AND c.content_hash = t.content_hash
WHERE c.embedding IS NULL
