-- The next $4 blocks after the cursor ($1 lexeme, $2 cell, $3 block; NULLs
-- start from the beginning: no lexeme is empty), in key order.
SELECT p.lexeme, p.cell, p.block, p.first_id, p.last_id, p.n, p.data
FROM rag_search.postings AS p
WHERE (p.lexeme, p.cell, p.block) > (coalesce($1::text, ''), coalesce($2::smallint, -1), coalesce($3::integer, -1))
ORDER BY p.lexeme, p.cell, p.block
LIMIT $4
