-- $1 document ids, $2 ordinals, $3 contents, $4 content hashes (hex), one
-- element per chunk. New chunks carry no embedding: the backfill fills them.
-- Each takes its document's current title, which its full text indexes.
INSERT INTO rag_search.chunks (document_id, ordinal, content, content_hash, document_title)
SELECT t.document_id, t.ordinal, t.content, decode(t.content_hash, 'hex'), d.title
FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[]) AS t(document_id, ordinal, content, content_hash)
JOIN rag_search.documents AS d ON d.id = t.document_id
