-- rag_search data model.
--
-- Data lives in the schema rag_search; the SQL API (rag_* functions) lives in
-- the schema the extension is created in. Every table and column that search
-- and backfill code touches is named in src/queries.rs (and the .sql files it
-- includes), so serving another table pair is a contained change.

-- One row: what the stored columns currently hold. Functions that change it
-- (rag_set_embedding_model, rag_set_text_search_config) rebuild whatever
-- depends on it in the same transaction.
CREATE TABLE rag_search.index_state (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
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
CREATE INDEX documents_title_trgm ON rag_search.documents USING gin (title gin_trgm_ops);

CREATE TABLE rag_search.chunks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id     bigint  NOT NULL REFERENCES rag_search.documents (id) ON DELETE CASCADE,
    ordinal         integer NOT NULL CHECK (ordinal >= 0),
    content         text    NOT NULL,
    content_hash    bytea   NOT NULL,
    tsv             tsvector GENERATED ALWAYS AS
                        (rag_search.index_tsvector('simple'::regconfig, content)) STORED,
    embedding       vector(1024),
    embedding_model text,
    embedding_dim   integer,
    embedded_at     timestamptz,
    CONSTRAINT chunks_embedding_complete CHECK (
        (embedding IS NULL) = (embedding_model IS NULL)
        AND (embedding IS NULL) = (embedding_dim IS NULL))
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
CREATE INDEX chunks_embedding_hnsw ON rag_search.chunks USING hnsw (embedding vector_cosine_ops);
-- Chunks still waiting for any embedding: the backfill's cheap path.
CREATE INDEX chunks_missing_embedding ON rag_search.chunks (id) WHERE embedding IS NULL;

SELECT pg_catalog.pg_extension_config_dump('rag_search.documents', '');
SELECT pg_catalog.pg_extension_config_dump('rag_search.chunks', '');
SELECT pg_catalog.pg_extension_config_dump('rag_search.index_state', '');
