-- The documents rag_related_documents returns at one hop: those naming any
-- of the entities $1 (through the entity index) but the documents $3, by
-- doc_id, at most $2; with the keys of the entities they name.
SELECT d.id, d.doc_id, d.title, rag_search.entity_keys(d.metadata) AS keys
FROM rag_search.documents AS d
WHERE d.metadata ?| ARRAY['entity_names', 'entity_nodes', 'entity_relations']
  AND rag_search.entity_keys(d.metadata) && $1::text[]
  AND d.id <> ALL ($3::bigint[])
ORDER BY d.doc_id
LIMIT $2
