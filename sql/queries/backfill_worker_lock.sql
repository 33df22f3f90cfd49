-- Session-level advisory lock held by the one backfill worker of this
-- database (keys $1, $2); released when the process exits, even on a crash.
SELECT pg_catalog.pg_try_advisory_lock($1, $2)
