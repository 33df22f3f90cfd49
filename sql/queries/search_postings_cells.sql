-- Every block of the cells ($1 lexemes, $2 cells), read as the extension's
-- owner.
SELECT p.lexeme, p.cell, p.data
FROM rag_search.postings AS p
JOIN unnest($1::text[], $2::smallint[]) AS w(lexeme, cell) ON p.lexeme = w.lexeme AND p.cell = w.cell
