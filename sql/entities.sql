-- Graph-RAG metadata: the entity index (src/entities, rag_core::entities).
--
-- Documents from LLM extraction carry entity_names, entity_nodes and
-- entity_relations at the top level of their metadata. The index holds,
-- per document, the keys of the entities it names
-- (rag_search.entity_keys): the entity signal of search and
-- rag_related_documents find documents by entity through it. An expression
-- index, so whatever writes documents (ingestion, COPY, a restore) keeps it
-- current; documents without entity metadata are not in it (the predicate
-- is repeated, word for word, by every statement that reads it).
CREATE INDEX documents_entity_keys ON rag_search.documents
    USING gin (rag_search.entity_keys(metadata))
    WHERE metadata ?| ARRAY['entity_names', 'entity_nodes', 'entity_relations'];
