-- rag_backfill_step: picks up to $1 chunks without an embedding for model
-- $2 / dimension $3. No row lock is kept while the embedding server is
-- asked (a delete or re-upsert of these chunks must not wait for it):
-- concurrent callers take disjoint chunks through transaction-level
-- advisory locks on ranges of 16 chunk ids (keys $4 and id / 16), which
-- block nobody else. Skipped: chunks waiting for a retry or parked for this
-- model and content, and the chunks the background worker has leased. The
-- write re-checks that each chunk still exists with the same content.
SELECT c.id, c.content, c.content_hash, d.title
FROM rag_search.chunks AS c
JOIN rag_search.documents AS d ON d.id = c.document_id
WHERE c.embedding IS NULL
  AND NOT EXISTS (
      SELECT FROM rag_search.backfill_failures AS f
      WHERE f.chunk_id = c.id
        AND f.embedding_model = $2 AND f.embedding_dim = $3 AND f.content_hash = c.content_hash
        AND (f.parked OR f.next_retry_at > clock_timestamp()))
  AND c.id <> ALL (coalesce((
      SELECT s.claimed_ids FROM rag_search.backfill_state AS s
      WHERE s.claim_expires_at > clock_timestamp()), '{}'))
  AND pg_catalog.pg_try_advisory_xact_lock($4, ((c.id >> 4) % 2147483647)::integer)
ORDER BY c.id
LIMIT $1
