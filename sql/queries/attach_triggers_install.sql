-- Installs the triggers of source $1 on its tables (see sql/attach.sql).
SELECT rag_search.attached_triggers($1, true)
