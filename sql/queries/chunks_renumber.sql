-- $1 chunk ids, $2 new ordinals. Only chunks whose position moved are passed.
UPDATE rag_search.chunks AS c
SET ordinal = t.ordinal
FROM unnest($1::bigint[], $2::integer[]) AS t(id, ordinal)
WHERE c.id = t.id
