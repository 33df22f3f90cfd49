-- rag_backfill_status: everything but the derived worker state, in one
-- round of cheap reads (counter deltas, failure rows of the current model,
-- the state row, pg_locks). $1, $2 the worker lock keys. The last column
-- says whether the current role may read the chunks (checked by oid:
-- naming the table would already fail without USAGE on its schema).
WITH target AS (
    SELECT embedding_model, embedding_dim FROM rag_search.index_state
), counts AS (
    SELECT coalesce(sum(chunks), 0)::bigint AS total, coalesce(sum(embedded), 0)::bigint AS embedded
    FROM rag_search.chunk_counts
), failed AS (
    SELECT count(*) FILTER (WHERE f.parked) AS parked, count(*) FILTER (WHERE NOT f.parked) AS retrying
    FROM rag_search.backfill_failures AS f, target AS t
    WHERE f.embedding_model = t.embedding_model AND f.embedding_dim = t.embedding_dim
), win AS (
    -- The rate window: the last minute, or since the worker started if that
    -- is later.
    SELECT CASE WHEN s.state = 'running' AND s.started_at > clock_timestamp() - interval '1 minute'
                THEN s.started_at END AS worker_since,
           clock_timestamp() - interval '1 minute' AS minute_ago
    FROM rag_search.backfill_state AS s
), recent AS (
    SELECT coalesce(sum(cc.embedded), 0)::bigint AS embedded,
           -- Without a recently started worker: since the first write seen.
           extract(epoch FROM clock_timestamp() - coalesce(w.worker_since, min(cc.at), w.minute_ago))::float8
               AS span
    FROM win AS w
    LEFT JOIN rag_search.chunk_counts AS cc
           ON cc.at > coalesce(w.worker_since, w.minute_ago) AND cc.embedded > 0
    GROUP BY w.worker_since, w.minute_ago
), holder AS (
    SELECT l.pid
    FROM pg_catalog.pg_locks AS l
    WHERE l.locktype = 'advisory' AND l.granted
      AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
      AND l.classid = $1::integer::oid AND l.objid = $2::integer::oid AND l.objsubid = 2
    LIMIT 1
)
SELECT c.total, c.embedded, f.parked, f.retrying,
       s.state, s.stop_requested, s.stop_reason, s.mode,
       coalesce((SELECT pid FROM holder), s.pid) AS pid,
       EXISTS (SELECT FROM holder) AS alive,
       s.batches_done, s.chunks_embedded,
       r.embedded AS recent_embedded,
       least(60.0, r.span) AS rate_window,
       s.last_error, s.last_error_at, s.backoff_until, s.started_at, s.last_batch_at,
       t.embedding_model, t.embedding_dim,
       (SELECT coalesce(bool_and(has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(k.oid, 'SELECT')), false)
        FROM pg_catalog.pg_class AS k
        JOIN pg_catalog.pg_namespace AS n ON n.oid = k.relnamespace
        WHERE n.nspname = 'rag_search' AND k.relname = 'chunks') AS allowed
FROM counts AS c, failed AS f, recent AS r, target AS t, rag_search.backfill_state AS s
