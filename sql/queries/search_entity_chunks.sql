-- The entity candidate list: chunks of documents naming any of the
-- entities $1 (through the entity index) and matching the metadata filter
-- $3 (jsonb or NULL) and of source $4 (options.source: 0 for the documents
-- of the ingestion functions, else an attached source; NULL: all), at most $2 documents and $2 chunks. No ordering: the
-- ranking decides, and a document outside the list still gets the entity
-- signal when another list finds it.
SELECT c.id
FROM (SELECT d.id
      FROM rag_search.documents AS d
      WHERE d.metadata ?| ARRAY['entity_names', 'entity_nodes', 'entity_relations']
        AND rag_search.entity_keys(d.metadata) && $1::text[]
        AND ($3::jsonb IS NULL OR d.metadata @> $3::jsonb)
        AND ($4::integer IS NULL OR coalesce(d.attached_source, 0) = $4::integer)
      LIMIT $2) AS m
JOIN rag_search.chunks AS c ON c.document_id = m.id
LIMIT $2
