-- The stored tsvectors of chunks $1 (those that still exist).
SELECT c.id, c.tsv FROM rag_search.chunks AS c WHERE c.id = ANY ($1::bigint[])
