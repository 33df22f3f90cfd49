-- One hop of rag_related_documents: the relations of the documents naming
-- any of the entities $1 (through the entity index), in document order, at
-- most $2 documents.
SELECT d.doc_id, pg_catalog.jsonb_build_object('entity_relations', d.metadata -> 'entity_relations') AS relations
FROM rag_search.documents AS d
WHERE d.metadata ?| ARRAY['entity_names', 'entity_nodes', 'entity_relations']
  AND d.metadata ? 'entity_relations'
  AND rag_search.entity_keys(d.metadata) && $1::text[]
ORDER BY d.id
LIMIT $2
