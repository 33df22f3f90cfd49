-- $1 text search configuration
UPDATE rag_search.index_state SET text_search_config = $1::regconfig, changed_at = now()
