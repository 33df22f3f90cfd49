-- Lexical candidates: the chunks sharing the most distinctive words with the
-- query (GIN chunks_tsv_gin, best BM25 first, so trigram similarity is
-- computed for a bounded set), plus chunks of documents whose title is
-- trigram-similar (GIN documents_title_trgm). Trigram similarity then ranks
-- them (search_signals.sql).
-- $1 query text, $2 limit, $3 metadata filter (jsonb or NULL), $4 tsquery
-- text (NULL when the query has no lexeme), $5 BM25 query blob.
(SELECT c.id
 FROM rag_search.chunks c
 WHERE $4::text IS NOT NULL AND c.tsv @@ $4::tsquery
   AND ($3::jsonb IS NULL OR EXISTS (
         SELECT 1 FROM rag_search.documents d WHERE d.id = c.document_id AND d.metadata @> $3::jsonb))
 ORDER BY rag_search.bm25(c.tsv, $5) DESC, c.id
 LIMIT $2)
UNION
(SELECT c.id
 FROM rag_search.documents d
 JOIN rag_search.chunks c ON c.document_id = d.id
 WHERE d.title OPERATOR(@extschema:pg_trgm@.%) $1
   AND ($3::jsonb IS NULL OR d.metadata @> $3::jsonb)
 ORDER BY @extschema:pg_trgm@.similarity(d.title, $1) DESC, c.id
 LIMIT $2)
