-- Projected chunks $1 of a pair whose text is unchanged take the embedding
-- their source row (@table@, key @key@) holds (@embedding_value@) now (model $2,
-- dimension $3; a NULL there makes the chunk wait for the backfill, which
-- then fills the source too). Writes only chunks whose vector differs.
-- Returns the change in embedded chunks, for the counters.
WITH wanted AS (
    SELECT c.id, c.embedding IS NOT NULL AS had, e.embedding
    FROM rag_search.chunks AS c
    LEFT JOIN LATERAL (
        SELECT @embedding_value@::@extschema:vector@.vector AS embedding
        FROM @table@ AS s
        WHERE s.@key@ = c.source_key::@key_type@
          AND @extschema:vector@.vector_dims(@embedding_value@) = $3
    ) AS e ON true
    WHERE c.id = ANY ($1::bigint[])
      AND ((c.embedding IS NULL) <> (e.embedding IS NULL)
           OR NOT (c.embedding OPERATOR(@extschema:vector@.=) e.embedding))
), written AS (
    UPDATE rag_search.chunks AS c
    SET embedding = w.embedding,
        embedding_model = CASE WHEN w.embedding IS NOT NULL THEN $2 END,
        embedding_dim = CASE WHEN w.embedding IS NOT NULL THEN $3 END,
        embedded_at = CASE WHEN w.embedding IS NOT NULL THEN now() END
    FROM wanted AS w
    WHERE c.id = w.id
    RETURNING c.id, w.had, w.embedding IS NOT NULL AS has
), cleared AS (
    DELETE FROM rag_search.backfill_failures AS f
    USING written AS w
    WHERE f.chunk_id = w.id AND w.has
)
SELECT coalesce(sum(w.has::integer - w.had::integer), 0)::bigint AS embedded FROM written AS w
