-- $1 document id, $2 ordinals, $3 contents, $4 content hashes (hex).
-- New chunks carry no embedding: the backfill fills them.
INSERT INTO rag_search.chunks (document_id, ordinal, content, content_hash)
SELECT $1, t.ordinal, t.content, decode(t.content_hash, 'hex')
FROM unnest($2::integer[], $3::text[], $4::text[]) AS t(ordinal, content, content_hash)
