-- rag_search data model.
--
-- Data lives in the schema rag_search; the SQL API (rag_* functions) lives in
-- the schema the extension is created in. Every table and column that search
-- and backfill code touches is named in src/queries.rs (and the .sql files it
-- includes), so serving another table pair is a contained change.
--
-- Security: every function below runs with search_path = pg_catalog,
-- pg_temp and names everything else with its schema; objects of pgvector
-- and pg_trgm are named through @extschema:vector@ / @extschema:pg_trgm@
-- (resolved at CREATE EXTENSION) or, in statements run later, through the
-- schema those extensions live in at that moment.
--
-- Backup: documents, chunks (embeddings included), the backfill failures,
-- index_state and the identity sequences are dumped by pg_dump
-- (pg_extension_config_dump below); statistics, counters and postings are
-- rebuilt by the triggers as the rows are restored.

-- One row: what the stored columns currently hold. Functions that change it
-- (rag_set_embedding_model, rag_set_text_search_config) rebuild whatever
-- depends on it in the same transaction.
CREATE TABLE rag_search.index_state (
    singleton          boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    embedding_model    text        NOT NULL,
    embedding_dim      integer     NOT NULL CHECK (embedding_dim BETWEEN 1 AND 16000),
    text_search_config regconfig   NOT NULL,
    changed_at         timestamptz NOT NULL DEFAULT now()
);
INSERT INTO rag_search.index_state (embedding_model, embedding_dim, text_search_config)
VALUES ('qwen3-embedding:8b', 1024, 'simple');

CREATE TABLE rag_search.documents (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id      text        NOT NULL UNIQUE CHECK (doc_id <> ''),
    title       text        NOT NULL DEFAULT '',
    source      text,
    metadata    jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    -- sha256 of the chunker version, chunk settings and content.
    source_hash bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- jsonb_ops (not jsonb_path_ops) so both `metadata @> filter` and top-level
-- key tests (`metadata ? 'key'`) use the index.
CREATE INDEX documents_metadata_gin ON rag_search.documents USING gin (metadata);
CREATE INDEX documents_title_trgm ON rag_search.documents
    USING gin (title @extschema:pg_trgm@.gin_trgm_ops);

-- The embedding column has no declared dimension, so a dump taken after a
-- dimension switch restores into a freshly created extension; the HNSW index
-- is an expression index at the current dimension over the rows of that
-- dimension (rag_search.embedding_index_rebuild).
CREATE TABLE rag_search.chunks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id     bigint  NOT NULL REFERENCES rag_search.documents (id) ON DELETE CASCADE,
    ordinal         integer NOT NULL CHECK (ordinal >= 0),
    content         text    NOT NULL,
    content_hash    bytea   NOT NULL,
    -- The document's title when the row was written: the full text indexes
    -- it with the chunk (rag_search.chunk_tsvector). A retitled document's
    -- chunks move to new rows (ingestion), like changed text.
    document_title  text    NOT NULL DEFAULT '',
    tsv             tsvector GENERATED ALWAYS AS
                        (rag_search.chunk_tsvector('simple'::regconfig, document_title, content)) STORED,
    embedding       @extschema:vector@.vector,
    embedding_model text,
    embedding_dim   integer,
    embedded_at     timestamptz,
    CONSTRAINT chunks_embedding_complete CHECK (
        (embedding IS NULL) = (embedding_model IS NULL)
        AND (embedding IS NULL) = (embedding_dim IS NULL)),
    CONSTRAINT chunks_embedding_dim CHECK (embedding_dim = @extschema:vector@.vector_dims(embedding))
);
-- (document_id, ordinal) is unique by construction (ingestion renumbers kept
-- chunks and inserts new ones from one plan); a unique constraint would have
-- to be deferred for renumbering, and deferred checks cost every statement of
-- a bulk ingest a scan of the pending-check queue.
CREATE INDEX chunks_document_ordinal ON rag_search.chunks (document_id, ordinal);
CREATE INDEX chunks_tsv_gin ON rag_search.chunks USING gin (tsv);
-- No trigram index on chunk content: it would cost more than every other
-- index together at ingestion (~1,000 trigrams per chunk). Lexical search
-- takes its candidates from the tsvector index and title trigrams, and ranks
-- them by trigram similarity.
-- Chunks still waiting for any embedding: the backfill's cheap path.
CREATE INDEX chunks_missing_embedding ON rag_search.chunks (id) WHERE embedding IS NULL;

-- (Re)creates the HNSW index for `dimension`: an expression index over the
-- rows holding embeddings of that dimension. Called by
-- rag_set_embedding_model on a dimension switch and when a restored
-- index_state names another dimension.
CREATE FUNCTION rag_search.embedding_index_rebuild(dimension integer) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    vector_schema name := (SELECT n.nspname FROM pg_catalog.pg_extension AS e
                           JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
                           WHERE e.extname = 'vector');
BEGIN
    PERFORM rag_search.require_writable('rag_search.embedding_index_rebuild()');
    DROP INDEX IF EXISTS rag_search.chunks_embedding_hnsw;
    EXECUTE format(
        'CREATE INDEX chunks_embedding_hnsw ON rag_search.chunks USING hnsw '
        '((embedding::%1$I.vector(%2$s)) %1$I.vector_cosine_ops) WHERE embedding_dim = %2$s',
        vector_schema, dimension);
END $$;
SELECT rag_search.embedding_index_rebuild(embedding_dim) FROM rag_search.index_state;

-- Recreates the stored tsvector with another text-search configuration, its
-- GIN index and the BM25 statistics (rag_set_text_search_config, and a
-- restored index_state naming another configuration).
CREATE FUNCTION rag_search.tsvector_rebuild(config regconfig) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rag_search.require_writable('rag_search.tsvector_rebuild()');
    ALTER TABLE rag_search.chunks DROP COLUMN tsv;
    EXECUTE format(
        'ALTER TABLE rag_search.chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS '
        '(rag_search.chunk_tsvector(%L::regconfig, document_title, content)) STORED', config::text);
    CREATE INDEX chunks_tsv_gin ON rag_search.chunks USING gin (tsv);
    PERFORM rag_search.term_stats_rebuild();
    PERFORM rag_search.postings_rebuild();
END $$;

-- pg_restore (and psql replaying a plain dump) inserts the dumped
-- index_state row into the row CREATE EXTENSION made: the insert becomes an
-- update of that row, after rebuilding what depends on a changed dimension
-- or text-search configuration.
CREATE FUNCTION rag_search.index_state_restore() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    current_state rag_search.index_state;
BEGIN
    SELECT * INTO current_state FROM rag_search.index_state FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    IF current_state.embedding_dim <> NEW.embedding_dim THEN
        PERFORM rag_search.embedding_index_rebuild(NEW.embedding_dim);
    END IF;
    IF current_state.text_search_config <> NEW.text_search_config THEN
        PERFORM rag_search.tsvector_rebuild(NEW.text_search_config);
    END IF;
    UPDATE rag_search.index_state
    SET embedding_model = NEW.embedding_model, embedding_dim = NEW.embedding_dim,
        text_search_config = NEW.text_search_config, changed_at = NEW.changed_at;
    RETURN NULL;
END $$;
CREATE TRIGGER index_state_restore BEFORE INSERT ON rag_search.index_state
    FOR EACH ROW EXECUTE FUNCTION rag_search.index_state_restore();

SELECT pg_catalog.pg_extension_config_dump('rag_search.documents', '');
SELECT pg_catalog.pg_extension_config_dump('rag_search.chunks', '');
SELECT pg_catalog.pg_extension_config_dump('rag_search.index_state', '');
-- Identity sequences: without their state a restored database would hand
-- out ids that already exist.
SELECT pg_catalog.pg_extension_config_dump('rag_search.documents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rag_search.chunks_id_seq', '');
