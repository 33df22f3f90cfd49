-- The entities a query names: the keys among $1 (its word sequences,
-- rag_core::entities::query_keys) that some document names, in the order
-- given. One probe of the entity index (documents_entity_keys) per key.
SELECT coalesce(array_agg(k.key ORDER BY k.ord), '{}') AS keys
FROM unnest($1::text[]) WITH ORDINALITY AS k(key, ord)
WHERE EXISTS (
    SELECT 1 FROM rag_search.documents AS d
    WHERE d.metadata ?| ARRAY['entity_names', 'entity_nodes', 'entity_relations']
      AND rag_search.entity_keys(d.metadata) @> ARRAY[k.key])
