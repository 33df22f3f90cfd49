-- The last block of each (lexeme, cell) of $1, $2.
SELECT DISTINCT ON (p.lexeme, p.cell) p.lexeme, p.cell, p.block, p.first_id, p.last_id, p.n, p.data
FROM rag_search.postings AS p
JOIN unnest($1::text[], $2::smallint[]) AS w(lexeme, cell) ON p.lexeme = w.lexeme AND p.cell = w.cell
ORDER BY p.lexeme, p.cell, p.block DESC
