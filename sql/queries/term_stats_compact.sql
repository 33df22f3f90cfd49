-- Folds pending statistics deltas into the totals when due and no other
-- transaction is doing so (see sql/search.sql).
SELECT rag_search.term_stats_compact(due_only => true)
