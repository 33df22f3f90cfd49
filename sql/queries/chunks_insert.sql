-- $1 document ids, $2 ordinals, $3 contents, $4 content hashes (hex), one
-- element per chunk. New chunks carry no embedding: the backfill fills them.
INSERT INTO rag_search.chunks (document_id, ordinal, content, content_hash)
SELECT t.document_id, t.ordinal, t.content, decode(t.content_hash, 'hex')
FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[]) AS t(document_id, ordinal, content, content_hash)
