-- Removes source $1: triggers, projection, registration (sql/attach.sql).
SELECT documents, chunks FROM rag_search.attached_source_remove($1)
