-- The backfill embedded chunks among $1 of source $2: writes their vectors
-- into the source rows (@table@, key @key@) whose @embedding@ is still
-- NULL. The source's update trigger then finds the projection equal and
-- writes nothing.
UPDATE @table@ AS s
SET @embedding@ = c.embedding
FROM rag_search.chunks AS c
JOIN rag_search.documents AS d ON d.id = c.document_id
WHERE c.id = ANY ($1::bigint[]) AND d.attached_source = $2 AND c.embedding IS NOT NULL
  AND s.@key@ = c.source_key::@key_type@ AND s.@embedding@ IS NULL
