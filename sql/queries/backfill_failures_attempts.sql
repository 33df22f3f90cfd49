-- Earlier failed attempts of chunks $1 (content hashes $2) for model $3 /
-- dimension $4. Rows for another model or content do not count.
SELECT f.chunk_id, f.attempts
FROM rag_search.backfill_failures AS f
JOIN unnest($1::bigint[], $2::bytea[]) AS t(id, content_hash)
  ON f.chunk_id = t.id AND f.content_hash = t.content_hash
WHERE f.embedding_model = $3 AND f.embedding_dim = $4
