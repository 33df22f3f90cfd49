-- Attached sources (docs/attach.md): existing tables served in place.
--
-- rag_attach registers a document table, or a page table and a chunk table
-- that is already chunked, and projects their rows into
-- rag_search.documents and rag_search.chunks (doc_id `prefix:key`), where
-- search, the BM25 statistics and postings, the HNSW index, the backfill,
-- backups and row-level security work on them as on any document.
-- Statement triggers on the source tables (installed below, running
-- rag_search.attached_source_changed as the extension's owner) keep the
-- projection current in the writing transaction; rows whose mapped values
-- did not change write nothing. The source tables themselves get nothing
-- but those triggers: no column, index or row, except the embeddings the
-- backfill writes into a pair's embedding column where it is NULL.

-- One row per attached source: the mapping (column names), and where its
-- first projection stands. Dumped by pg_dump (a restored database keeps
-- its sources; the triggers on the source tables are dumped with them).
CREATE TABLE rag_search.attached_sources (
    id               integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The document table, or the chunk table of a pair: names the source.
    source_table     regclass    NOT NULL UNIQUE,
    -- The page table of a pair; NULL for a document table.
    page_table       regclass    UNIQUE,
    -- Projected doc_ids are prefix:key (the page's key for a pair).
    doc_id_prefix    text        NOT NULL UNIQUE CHECK (doc_id_prefix <> '' AND strpos(doc_id_prefix, ':') = 0),
    key_column       text        NOT NULL,
    page_key_column  text,
    -- Of the document table, or of the page table of a pair; NULL: untitled.
    title_column     text,
    content_column   text        NOT NULL,
    metadata_columns text[]      NOT NULL DEFAULT '{}',
    page_ref_column  text,
    ordinal_column   text,
    -- A pair's existing embeddings: reused while the chunks hold this
    -- model and dimension, and filled by the backfill where NULL.
    embedding_column text,
    embedding_model  text,
    embedding_dim    integer,
    -- attaching: the first projection walks the tables by key (phase
    -- documents, or pages then chunks; cursor_key the last key done).
    state            text        NOT NULL DEFAULT 'attaching' CHECK (state IN ('attaching', 'attached')),
    phase            text        CHECK (phase IN ('documents', 'pages', 'chunks')),
    cursor_key       text,
    rows_total       bigint      NOT NULL DEFAULT 0,
    rows_done        bigint      NOT NULL DEFAULT 0,
    -- Time spent in steps, for the rate and ETA.
    busy_ms          bigint      NOT NULL DEFAULT 0,
    attached_at      timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    CONSTRAINT attached_sources_pair CHECK (
        (page_table IS NULL) = (page_key_column IS NULL)
        AND (page_table IS NULL) = (page_ref_column IS NULL)
        AND (page_table IS NULL) = (ordinal_column IS NULL)),
    CONSTRAINT attached_sources_embedding CHECK (
        (embedding_column IS NULL) = (embedding_model IS NULL)
        AND (embedding_column IS NULL) = (embedding_dim IS NULL)),
    CONSTRAINT attached_sources_phase CHECK ((state = 'attaching') = (phase IS NOT NULL))
);
SELECT pg_catalog.pg_extension_config_dump('rag_search.attached_sources', '');
SELECT pg_catalog.pg_extension_config_dump('rag_search.attached_sources_id_seq', '');

-- The projection: documents of a source carry its id (NULL: documents
-- written by rag_upsert_document), chunks of a pair the key of their
-- source row.
ALTER TABLE rag_search.documents
    ADD COLUMN attached_source integer REFERENCES rag_search.attached_sources (id) ON DELETE CASCADE;
CREATE INDEX documents_attached_source ON rag_search.documents (attached_source)
    WHERE attached_source IS NOT NULL;
ALTER TABLE rag_search.chunks ADD COLUMN source_key text;
CREATE INDEX chunks_source_key ON rag_search.chunks (source_key) WHERE source_key IS NOT NULL;

-- The trigger function (src/attach/trigger.rs) runs the projection as the
-- extension's owner.
ALTER FUNCTION rag_search.attached_source_changed() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Installs (or, with install false, drops) the triggers of source `source`
-- on its tables that exist. The only objects rag_search puts on a source
-- table; their names and transition tables are defined here only.
CREATE FUNCTION rag_search.attached_triggers(source integer, install boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s rag_search.attached_sources;
    t regclass;
BEGIN
    PERFORM rag_search.require_writable('rag_search.attached_triggers()');
    SELECT * INTO STRICT s FROM rag_search.attached_sources WHERE id = source;
    FOREACH t IN ARRAY ARRAY[s.source_table, s.page_table] LOOP
        CONTINUE WHEN t IS NULL OR NOT EXISTS (SELECT FROM pg_catalog.pg_class WHERE oid = t);
        IF install THEN
            EXECUTE format('CREATE TRIGGER rag_search_attached_insert AFTER INSERT ON %s '
                           'REFERENCING NEW TABLE AS rag_search_new FOR EACH STATEMENT '
                           'EXECUTE FUNCTION rag_search.attached_source_changed(%s)', t, source);
            EXECUTE format('CREATE TRIGGER rag_search_attached_update AFTER UPDATE ON %s '
                           'REFERENCING OLD TABLE AS rag_search_old NEW TABLE AS rag_search_new FOR EACH STATEMENT '
                           'EXECUTE FUNCTION rag_search.attached_source_changed(%s)', t, source);
            EXECUTE format('CREATE TRIGGER rag_search_attached_delete AFTER DELETE ON %s '
                           'REFERENCING OLD TABLE AS rag_search_old FOR EACH STATEMENT '
                           'EXECUTE FUNCTION rag_search.attached_source_changed(%s)', t, source);
            EXECUTE format('CREATE TRIGGER rag_search_attached_truncate AFTER TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION rag_search.attached_source_changed(%s)', t, source);
        ELSE
            EXECUTE format('DROP TRIGGER IF EXISTS rag_search_attached_insert ON %s', t);
            EXECUTE format('DROP TRIGGER IF EXISTS rag_search_attached_update ON %s', t);
            EXECUTE format('DROP TRIGGER IF EXISTS rag_search_attached_delete ON %s', t);
            EXECUTE format('DROP TRIGGER IF EXISTS rag_search_attached_truncate ON %s', t);
        END IF;
    END LOOP;
END $$;

-- Removes source `source_id`: its triggers, its projected documents and
-- chunks (the statistics, postings and counters follow through their
-- triggers) and its registration. Returns what was removed.
CREATE FUNCTION rag_search.attached_source_remove(source_id integer, OUT documents bigint, OUT chunks bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rag_search.require_writable('rag_search.attached_source_remove()');
    PERFORM rag_search.attached_triggers(source_id, false);
    WITH gone AS (
        DELETE FROM rag_search.chunks AS c
        USING rag_search.documents AS d
        WHERE d.id = c.document_id AND d.attached_source = source_id
        RETURNING 1
    ) SELECT count(*) INTO chunks FROM gone;
    WITH gone AS (
        DELETE FROM rag_search.documents WHERE attached_source = source_id RETURNING 1
    ) SELECT count(*) INTO documents FROM gone;
    DELETE FROM rag_search.attached_sources WHERE id = source_id;
END $$;

-- DROP TABLE of an attached table removes the source (the other table of
-- a pair loses its triggers).
CREATE FUNCTION rag_search.attached_table_dropped() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gone integer;
BEGIN
    FOR gone IN
        SELECT s.id
        FROM rag_search.attached_sources AS s
        JOIN pg_catalog.pg_event_trigger_dropped_objects() AS d
          ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0
         AND d.objid IN (s.source_table, s.page_table)
    LOOP
        PERFORM rag_search.attached_source_remove(gone);
    END LOOP;
END $$;
CREATE EVENT TRIGGER rag_search_attached_table_dropped ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION rag_search.attached_table_dropped();

-- Per-source progress for psql: TABLE rag_source_progress;
CREATE VIEW rag_source_progress AS
SELECT source, kind, state, phase, rows_done, rows_total, progress_pct, rows_per_sec, eta,
       documents, chunks, embedded, coverage_pct
FROM rag_source_status();
-- rag_source_status() answers the roles rag_backfill_status() answers.
GRANT SELECT ON rag_source_progress TO PUBLIC;
