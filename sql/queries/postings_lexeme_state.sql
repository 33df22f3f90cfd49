-- For lexemes $1: whether they have postings, and their document frequency
-- in the folded BM25 statistics (see sql/search.sql).
SELECT l.lexeme,
       EXISTS (SELECT FROM rag_search.postings AS p WHERE p.lexeme = l.lexeme) AS indexed,
       coalesce(t.df, 0) AS df
FROM unnest($1::text[]) AS l(lexeme)
LEFT JOIN rag_search.term_stats AS t ON t.lexeme = l.lexeme
