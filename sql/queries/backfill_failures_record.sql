-- Records failed attempts: $1 chunk ids, $2 content hashes, $3 attempts so
-- far, $4 error kinds, $5 messages, $6 retry delays in ms (NULL: park), for
-- model $7 / dimension $8. Chunks deleted meanwhile are skipped.
INSERT INTO rag_search.backfill_failures AS f
    (chunk_id, embedding_model, embedding_dim, content_hash, attempts, error_kind, last_error,
     first_failed_at, last_attempt_at, next_retry_at, parked)
SELECT t.id, $7, $8, t.content_hash, t.attempts, t.kind, t.error, now(), now(),
       now() + t.retry_ms * interval '1 millisecond', t.retry_ms IS NULL
FROM unnest($1::bigint[], $2::bytea[], $3::integer[], $4::text[], $5::text[], $6::bigint[])
     AS t(id, content_hash, attempts, kind, error, retry_ms)
JOIN rag_search.chunks AS c ON c.id = t.id
ON CONFLICT (chunk_id) DO UPDATE
SET embedding_model = excluded.embedding_model,
    embedding_dim = excluded.embedding_dim,
    content_hash = excluded.content_hash,
    attempts = excluded.attempts,
    error_kind = excluded.error_kind,
    last_error = excluded.last_error,
    first_failed_at = CASE WHEN excluded.attempts = 1 THEN excluded.first_failed_at
                           ELSE f.first_failed_at END,
    last_attempt_at = excluded.last_attempt_at,
    next_retry_at = excluded.next_retry_at,
    parked = excluded.parked
