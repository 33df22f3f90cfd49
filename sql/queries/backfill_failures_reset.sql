-- rag_backfill_retry_failed: forgets the failures of chunks $1 (NULL: all),
-- parked ones only unless $2. The chunks are claimable at once.
DELETE FROM rag_search.backfill_failures
WHERE ($1::bigint[] IS NULL OR chunk_id = ANY ($1::bigint[]))
  AND (parked OR $2)
RETURNING chunk_id
