-- Deletes blocks that became empty: $1 lexemes, $2 cells, $3 block numbers.
DELETE FROM rag_search.postings AS p
USING unnest($1::text[], $2::smallint[], $3::integer[]) AS d(lexeme, cell, block)
WHERE p.lexeme = d.lexeme AND p.cell = d.cell AND p.block = d.block
