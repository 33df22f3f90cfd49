-- Neighbour window: the text of each hit's chunk and its neighbours
-- (ordinal ± $4) in document order.
-- $1 chunk ids, $2 their document ids, $3 their ordinals, $4 window size.
SELECT u.id, string_agg(n.content, E'\n' ORDER BY n.ordinal) AS context
FROM unnest($1::bigint[], $2::bigint[], $3::integer[]) AS u(id, document_id, ordinal)
JOIN rag_search.chunks n
  ON n.document_id = u.document_id AND n.ordinal BETWEEN u.ordinal - $4 AND u.ordinal + $4
GROUP BY u.id
