-- Whether any document carries entity metadata (rag_tune_weights tries
-- entity weights then); stops at the first such document.
SELECT EXISTS (
    SELECT 1 FROM rag_search.documents AS d
    WHERE d.metadata ?| ARRAY['entity_names', 'entity_nodes', 'entity_relations']) AS present
