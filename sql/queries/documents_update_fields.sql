-- $1 ids, $2 titles, $3 sources, $4 metadata (jsonb text). Writes only the
-- rows where something differs, so an identical re-upsert creates no new
-- row version. Returns the ids written.
UPDATE rag_search.documents AS d
SET title = u.title, source = u.source, metadata = u.metadata::jsonb, updated_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, title, source, metadata)
WHERE d.id = u.id
  AND (d.title, d.source, d.metadata) IS DISTINCT FROM (u.title, u.source, u.metadata::jsonb)
RETURNING d.id
