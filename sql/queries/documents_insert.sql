-- $1 doc_ids, $2 titles, $3 sources, $4 metadata (jsonb text), $5 source
-- hashes (hex), $6 the attached source of each (NULL: written by the
-- ingestion functions). Returns the rows inserted; a doc_id inserted
-- concurrently by another transaction is skipped and handled as an
-- existing document.
INSERT INTO rag_search.documents (doc_id, title, source, metadata, source_hash, attached_source)
SELECT u.doc_id, u.title, u.source, u.metadata::jsonb, decode(u.source_hash, 'hex'), u.attached_source
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[])
     AS u(doc_id, title, source, metadata, source_hash, attached_source)
ON CONFLICT (doc_id) DO NOTHING
RETURNING id, doc_id
