-- $1 setting name: its value in this session (NULL when undefined).
SELECT pg_catalog.current_setting($1, true)
