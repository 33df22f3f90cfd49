-- Writes blocks: $1 lexemes, $2 cells, $3 block numbers, $4 first ids,
-- $5 last ids, $6 counts, $7 encoded postings.
INSERT INTO rag_search.postings AS p (lexeme, cell, block, first_id, last_id, n, data)
SELECT * FROM unnest($1::text[], $2::smallint[], $3::integer[], $4::bigint[], $5::bigint[], $6::integer[], $7::bytea[])
ON CONFLICT (lexeme, cell, block) DO UPDATE
SET first_id = excluded.first_id, last_id = excluded.last_id, n = excluded.n, data = excluded.data
