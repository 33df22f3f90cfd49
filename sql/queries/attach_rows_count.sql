-- Rows of attached source table @table@ (taken once, when an attach
-- begins, for its progress).
SELECT count(*) AS n FROM @table@
