-- $1 id, $2 title, $3 source, $4 metadata. Writes only when something differs,
-- so an identical re-upsert creates no new row version.
UPDATE rag_search.documents
SET title = $2, source = $3, metadata = $4, updated_at = now()
WHERE id = $1
  AND (title, source, metadata) IS DISTINCT FROM ($2, $3, $4)
RETURNING id
