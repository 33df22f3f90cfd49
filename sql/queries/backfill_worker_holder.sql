-- Pid of the process holding the backfill worker lock of this database
-- (advisory lock keys $1, $2), if any. pg_locks is readable by every role.
SELECT l.pid
FROM pg_catalog.pg_locks AS l
WHERE l.locktype = 'advisory' AND l.granted
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
  AND l.classid = $1::integer::oid AND l.objid = $2::integer::oid AND l.objsubid = 2
