-- $1 ids, $2 titles, $3 sources, $4 metadata (jsonb text), $5 source hashes (hex)
UPDATE rag_search.documents AS d
SET title = u.title, source = u.source, metadata = u.metadata::jsonb,
    source_hash = decode(u.source_hash, 'hex'), updated_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
     AS u(id, title, source, metadata, source_hash)
WHERE d.id = u.id
