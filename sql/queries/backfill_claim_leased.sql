-- Background worker: picks up to $1 chunks like backfill_claim_locked.sql
-- (model $2, dimension $3) and leases them for $4 ms in the state row
-- instead of keeping row locks, so the transaction can commit before the
-- embedding request. $5: the worker's batches still in flight (excluded,
-- and kept in the lease).
WITH picked AS (
    SELECT c.id, c.content, c.content_hash, d.title
    FROM rag_search.chunks AS c
    JOIN rag_search.documents AS d ON d.id = c.document_id
    WHERE c.embedding IS NULL
      AND c.id <> ALL ($5::bigint[])
      -- Ranges rag_backfill_step callers are embedding (see
      -- backfill_claim_step.sql); $6 the advisory lock class.
      AND pg_catalog.pg_try_advisory_xact_lock($6, ((c.id >> 4) % 2147483647)::integer)
      AND NOT EXISTS (
          SELECT FROM rag_search.backfill_failures AS f
          WHERE f.chunk_id = c.id
            AND f.embedding_model = $2 AND f.embedding_dim = $3 AND f.content_hash = c.content_hash
            AND (f.parked OR f.next_retry_at > clock_timestamp()))
    ORDER BY c.id
    LIMIT $1
    FOR UPDATE OF c SKIP LOCKED
), lease AS (
    UPDATE rag_search.backfill_state
    SET claimed_ids = $5::bigint[] || ARRAY(SELECT id FROM picked),
        claim_expires_at = clock_timestamp() + $4 * interval '1 millisecond'
)
SELECT id, content, content_hash, title FROM picked ORDER BY id
