-- Folds pending statistics deltas into the totals unless another
-- transaction is doing so (see sql/search.sql).
SELECT rag_search.term_stats_compact()
