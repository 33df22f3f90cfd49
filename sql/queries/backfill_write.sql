-- Writes embeddings. $1 chunk ids, $2 the content hashes that were embedded,
-- $3 all vectors concatenated (real[], $4 components each), $5 model, $6 the
-- document titles the inputs were built with (NULL when the document
-- template does not use the title).
-- A chunk is written only while it still has no embedding and the same
-- content (and title), so a chunk is never embedded twice and a changed
-- text never gets the vector of its old text. Clears the chunks' failure
-- rows and counts the new embeddings. Returns how many were written.
WITH written AS (
    UPDATE rag_search.chunks AS c
    SET embedding = (($3::real[])[(t.ord - 1) * $4 + 1 : t.ord * $4])::@extschema:vector@.vector,
        embedding_model = $5,
        embedding_dim = $4,
        embedded_at = now()
    FROM unnest($1::bigint[], $2::bytea[], $6::text[]) WITH ORDINALITY AS t(id, content_hash, title, ord)
    WHERE c.id = t.id AND c.embedding IS NULL AND c.content_hash = t.content_hash
      AND ($6::text[] IS NULL OR EXISTS (
            SELECT FROM rag_search.documents AS d WHERE d.id = c.document_id AND d.title = t.title))
    RETURNING c.id
), cleared AS (
    DELETE FROM rag_search.backfill_failures AS f
    USING written AS w
    WHERE f.chunk_id = w.id
), counted AS (
    INSERT INTO rag_search.chunk_counts (chunks, embedded)
    SELECT 0, count(*) FROM written HAVING count(*) > 0
)
SELECT count(*) FROM written
