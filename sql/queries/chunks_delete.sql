-- $1 chunk ids
DELETE FROM rag_search.chunks WHERE id = ANY ($1::bigint[])
