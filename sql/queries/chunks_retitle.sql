-- $1 document ids whose title changed. Their chunks written under another
-- title move to new rows carrying the current one: the full text indexes
-- the title, and a chunk's indexed text never changes in place (postings
-- and statistics follow inserts and deletes only). Ordinal, text, source
-- key and embedding move with them; the delete and insert triggers keep the
-- statistics, postings and backfill counters current.
WITH moved AS (
    DELETE FROM rag_search.chunks AS c
    USING rag_search.documents AS d
    WHERE d.id = ANY ($1::bigint[]) AND c.document_id = d.id AND c.document_title <> d.title
    RETURNING c.document_id, c.ordinal, c.content, c.content_hash, d.title, c.source_key,
              c.embedding, c.embedding_model, c.embedding_dim, c.embedded_at
)
INSERT INTO rag_search.chunks
    (document_id, ordinal, content, content_hash, document_title, source_key,
     embedding, embedding_model, embedding_dim, embedded_at)
SELECT m.document_id, m.ordinal, m.content, m.content_hash, m.title, m.source_key,
       m.embedding, m.embedding_model, m.embedding_dim, m.embedded_at
FROM moved AS m
ORDER BY m.document_id, m.ordinal
