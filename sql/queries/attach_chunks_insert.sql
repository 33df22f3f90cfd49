-- Inserts projected chunks of a pair: $1 documents, $2 ordinals, $3 texts,
-- $4 content hashes, $5 source keys. With $6, each takes the embedding its
-- source row (@table@, key @key@) holds (@embedding_value@) when that vector has
-- dimension $8 (model $7): no request to the embedding server for it.
-- Each takes its page's current title, which its full text indexes. The
-- insert triggers count the chunks and embeddings.
INSERT INTO rag_search.chunks
    (document_id, ordinal, content, content_hash, document_title, source_key,
     embedding, embedding_model, embedding_dim, embedded_at)
SELECT t.document_id, t.ordinal, t.content, t.content_hash, d.title, t.source_key, e.embedding,
       CASE WHEN e.embedding IS NOT NULL THEN $7::text END,
       CASE WHEN e.embedding IS NOT NULL THEN $8::integer END,
       CASE WHEN e.embedding IS NOT NULL THEN now() END
FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::bytea[], $5::text[])
     AS t(document_id, ordinal, content, content_hash, source_key)
JOIN rag_search.documents AS d ON d.id = t.document_id
LEFT JOIN LATERAL (
    SELECT @embedding_value@::@extschema:vector@.vector AS embedding
    FROM @table@ AS s
    WHERE $6 AND s.@key@ = t.source_key::@key_type@
      AND @extschema:vector@.vector_dims(@embedding_value@) = $8
) AS e ON true
