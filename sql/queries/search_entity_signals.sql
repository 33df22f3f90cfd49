-- How many of the entities $2 the document of each candidate chunk $1
-- names (chunks of documents naming none are left out).
SELECT c.id,
       (SELECT count(*) FROM unnest(rag_search.entity_keys(d.metadata)) AS k(key)
        WHERE k.key = ANY ($2::text[])) AS named
FROM rag_search.chunks AS c
JOIN rag_search.documents AS d ON d.id = c.document_id
WHERE c.id = ANY ($1::bigint[])
  AND d.metadata ?| ARRAY['entity_names', 'entity_nodes', 'entity_relations']
  AND rag_search.entity_keys(d.metadata) && $2::text[]
