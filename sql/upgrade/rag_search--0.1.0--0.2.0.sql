-- rag_search 0.1.0 → 0.2.0 (ALTER EXTENSION rag_search UPDATE TO '0.2.0').
--
-- Keeps every row: documents, chunks and embeddings stay as they are; the
-- HNSW index is rebuilt once as an expression index at the current
-- dimension (minutes on millions of chunks), the query-embedding cache is
-- emptied (its key changed). The full text now indexes each chunk's
-- document title with it: every chunk row is rewritten once with its
-- title, and the tsvector, BM25 statistics and postings are rebuilt, so
-- full-text rankings change (the vectors do not).
-- tests/integration/tests/upgrade.rs checks that an upgraded database has
-- exactly the objects of a fresh 0.2.0 installation, keeps every row, and
-- answers every search as a database whose full text was rebuilt.

-- Functions: a pinned search_path on every function that runs statements;
-- the backfill functions run as the extension's owner; functions that run
-- statements are not parallel safe.
ALTER FUNCTION @extschema@.rag_backfill_recount() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_backfill_resume() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_backfill_retry_failed(bigint[], boolean)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_backfill_start(text, integer, integer, bigint, integer)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_backfill_step(integer) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_backfill_stop() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_backfill_status() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_candidate_pages(text, integer)
    PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_stats() PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_delete_document(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_hybrid_search(text, integer, text, jsonb, jsonb)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_hybrid_search(text, @extschema:vector@.vector, integer, text, jsonb, jsonb)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_set_embedding_model(text, integer) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_set_text_search_config(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_upsert_document(text, text, text, jsonb, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION @extschema@.rag_upsert_documents(jsonb) SET search_path = pg_catalog, pg_temp;

-- Functions that write refuse at once, with 25006 and a hint, on a hot
-- standby and in a read-only transaction: the SQL functions below call this
-- one first, as the Rust functions do.
CREATE FUNCTION rag_search."require_writable"(
	"action" TEXT
) RETURNS void
STRICT
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'require_writable_wrapper';
REVOKE EXECUTE ON FUNCTION rag_search.require_writable(text) FROM PUBLIC;

-- Embeddings: no declared dimension on the column (a dump restores into a
-- fresh installation whatever the dimension), an expression HNSW index at
-- the current dimension, and a check that the recorded dimension is the
-- vector's.
DROP INDEX rag_search.chunks_embedding_hnsw;
ALTER TABLE rag_search.chunks ALTER COLUMN embedding TYPE @extschema:vector@.vector;
ALTER TABLE rag_search.chunks
    ADD CONSTRAINT chunks_embedding_dim CHECK (embedding_dim = @extschema:vector@.vector_dims(embedding));

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

-- The full text of a chunk indexes its document's title with it: the title
-- is stored in each chunk row (written by ingestion with the chunk) and the
-- generated tsvector reads both. The statistics are rebuilt here; the
-- postings at the end of this script.
CREATE FUNCTION rag_search."chunk_tsvector"(
	"config" regconfig, /* RegConfigArg */
	"title" TEXT, /* & str */
	"content" TEXT /* & str */
) RETURNS tsvector /* TsVectorValue */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'chunk_tsvector_wrapper';
ALTER TABLE rag_search.chunks DROP COLUMN tsv;
ALTER TABLE rag_search.chunks ADD COLUMN document_title text NOT NULL DEFAULT '';
UPDATE rag_search.chunks AS c SET document_title = d.title
FROM rag_search.documents AS d
WHERE d.id = c.document_id AND d.title <> '';
DO $$
BEGIN
    EXECUTE format(
        'ALTER TABLE rag_search.chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS '
        '(rag_search.chunk_tsvector(%L::regconfig, document_title, content)) STORED',
        (SELECT text_search_config::text FROM rag_search.index_state));
END $$;
CREATE INDEX chunks_tsv_gin ON rag_search.chunks USING gin (tsv);
SELECT rag_search.term_stats_rebuild();

-- Restores: the dumped index_state row merges into the one CREATE
-- EXTENSION made.
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

-- Dumped with the data: the identity sequences and the backfill failures.
SELECT pg_catalog.pg_extension_config_dump('rag_search.documents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rag_search.chunks_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rag_search.backfill_failures', '');

-- The statistics triggers run as the extension's owner and fold the deltas
-- when due (chunks restored by COPY reach the totals searches read).
CREATE OR REPLACE FUNCTION rag_search.term_stats_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.term_stats_delta (lexemes, dfs)
    SELECT f.lexemes, f.dfs
    FROM rag_search.document_frequencies((SELECT array_agg(n.tsv) FROM new_chunks n), 1) AS f
    WHERE cardinality(f.lexemes) > 0;
    INSERT INTO rag_search.corpus_stats_delta (chunks, lexemes)
    SELECT count(*), coalesce(sum(length(tsv)), 0) FROM new_chunks HAVING count(*) > 0;
    PERFORM rag_search.term_stats_compact(true);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rag_search.term_stats_remove() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.term_stats_delta (lexemes, dfs)
    SELECT f.lexemes, f.dfs
    FROM rag_search.document_frequencies((SELECT array_agg(o.tsv) FROM old_chunks o), -1) AS f
    WHERE cardinality(f.lexemes) > 0;
    INSERT INTO rag_search.corpus_stats_delta (chunks, lexemes)
    SELECT -count(*), -coalesce(sum(length(tsv)), 0) FROM old_chunks HAVING count(*) > 0;
    PERFORM rag_search.term_stats_compact(true);
    RETURN NULL;
END $$;
ALTER FUNCTION rag_search.term_stats_reset() SECURITY DEFINER;

-- The statistics and counter maintenance refuse to run where nothing can be
-- written (see rag_search.require_writable above).
CREATE OR REPLACE FUNCTION rag_search.term_stats_compact(due_only boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    emptied text[];
BEGIN
    PERFORM rag_search.require_writable('rag_search.term_stats_compact()');
    IF due_only AND (SELECT coalesce(sum(abs(d.chunks)), 0) FROM rag_search.corpus_stats_delta d)
                    < greatest(1, least(20000, (SELECT chunks / 10 FROM rag_search.corpus_stats))) THEN
        RETURN false;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('rag_search.term_stats_compact')) THEN
        RETURN false;
    END IF;
    -- Only the compactor (under the advisory lock) writes term_stats, so a
    -- plain update of known lexemes plus an insert of new ones is safe.
    WITH moved AS (DELETE FROM rag_search.term_stats_delta RETURNING lexemes, dfs),
         summed AS (
             SELECT u.lexeme, sum(u.df)::bigint AS df
             FROM moved, unnest(moved.lexemes, moved.dfs) AS u(lexeme, df)
             GROUP BY u.lexeme),
         updated AS (
             UPDATE rag_search.term_stats AS t SET df = t.df + s.df
             FROM summed s WHERE t.lexeme = s.lexeme AND s.df <> 0
             RETURNING t.lexeme, t.df),
         inserted AS (
             INSERT INTO rag_search.term_stats (lexeme, df)
             SELECT s.lexeme, s.df FROM summed s
             WHERE s.df > 0 AND NOT EXISTS (SELECT FROM updated u WHERE u.lexeme = s.lexeme)
             RETURNING 1)
    SELECT array_agg(u.lexeme) INTO emptied FROM updated u WHERE u.df <= 0;
    IF emptied IS NOT NULL THEN
        DELETE FROM rag_search.term_stats WHERE lexeme = ANY (emptied) AND df <= 0;
    END IF;
    WITH moved AS (DELETE FROM rag_search.corpus_stats_delta RETURNING chunks, lexemes)
    UPDATE rag_search.corpus_stats
    SET chunks = chunks + (SELECT coalesce(sum(chunks), 0) FROM moved),
        lexemes = lexemes + (SELECT coalesce(sum(lexemes), 0) FROM moved);
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION rag_search.term_stats_rebuild() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT rag_search.require_writable('rag_search.term_stats_rebuild()');
    SELECT pg_advisory_xact_lock(hashtext('rag_search.term_stats_compact'));
    DELETE FROM rag_search.term_stats_delta;
    DELETE FROM rag_search.corpus_stats_delta;
    DELETE FROM rag_search.term_stats;
    INSERT INTO rag_search.term_stats (lexeme, df)
    SELECT u.lexeme, count(*) FROM rag_search.chunks c, unnest(c.tsv) AS u GROUP BY u.lexeme;
    UPDATE rag_search.corpus_stats
    SET chunks = (SELECT count(*) FROM rag_search.chunks),
        lexemes = (SELECT coalesce(sum(length(tsv)), 0) FROM rag_search.chunks);
$$;

CREATE OR REPLACE FUNCTION rag_search.compact_chunk_counts() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT rag_search.require_writable('rag_search.compact_chunk_counts()');
    WITH old AS (
        DELETE FROM rag_search.chunk_counts
        WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM rag_search.chunk_counts
            WHERE at < clock_timestamp() - interval '2 minutes'
            FOR UPDATE SKIP LOCKED))
        RETURNING at, chunks, embedded)
    INSERT INTO rag_search.chunk_counts (at, chunks, embedded)
    SELECT max(at), sum(chunks), sum(embedded) FROM old HAVING count(*) > 0;
$$;

-- The query-embedding cache is keyed by everything that decides a vector
-- and is private to the extension's code.
DROP TABLE rag_search.query_embedding_cache;
CREATE TABLE rag_search.query_embedding_cache (
    key        bytea       PRIMARY KEY,
    embedding  real[]      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX query_embedding_cache_created ON rag_search.query_embedding_cache (created_at);
-- Counts cache inserts across all sessions: every 64th insert trims the
-- cache, so it stays within rag_search.query_cache_max_entries + 64 however
-- short the connections are.
CREATE SEQUENCE rag_search.query_embedding_cache_inserts;

-- rag_search_admin: marked as rag_search's own (0.1.0 created it without a
-- mark) unless it is not fit to be, and left with EXECUTE on the backfill
-- functions only.
DO $$
DECLARE
    marker constant text := 'rag_search: operators of the embedding backfill (created by CREATE EXTENSION rag_search)';
    found_role pg_catalog.pg_roles;
BEGIN
    SELECT * INTO found_role FROM pg_catalog.pg_roles WHERE rolname = 'rag_search_admin';
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF found_role.rolcanlogin OR found_role.rolsuper OR found_role.rolcreaterole
       OR found_role.rolcreatedb OR found_role.rolreplication OR found_role.rolbypassrls
       OR EXISTS (SELECT FROM pg_catalog.pg_auth_members AS m
                  JOIN pg_catalog.pg_roles AS r ON r.oid = m.member
                  WHERE m.roleid = found_role.oid AND m.admin_option AND NOT r.rolsuper) THEN
        RAISE EXCEPTION 'role "rag_search_admin" has LOGIN, another role attribute, or a non-superuser admin'
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Remove its attributes (ALTER ROLE rag_search_admin NOLOGIN ...) and admin grants, '
                         'then run ALTER EXTENSION rag_search UPDATE again.';
    END IF;
    IF pg_catalog.shobj_description(found_role.oid, 'pg_authid') IS NULL THEN
        EXECUTE format('COMMENT ON ROLE rag_search_admin IS %L', marker);
    END IF;
END $$;
REVOKE ALL ON rag_search.documents, rag_search.chunks, rag_search.backfill_failures,
    rag_search.backfill_state, rag_search.chunk_counts FROM rag_search_admin;
REVOKE ALL ON rag_search.index_state FROM rag_search_admin;
REVOKE ALL ON SCHEMA rag_search FROM rag_search_admin;
REVOKE EXECUTE ON FUNCTION rag_search.compact_chunk_counts() FROM rag_search_admin;
-- The progress view answers the roles rag_backfill_status() answers.
GRANT SELECT ON @extschema@.rag_backfill_progress TO PUBLIC;

-- Grants 0.1.0's documentation recommended (SELECT and INSERT, UPDATE,
-- DELETE ON ALL TABLES IN SCHEMA rag_search) reach the bookkeeping too: from
-- now on only the extension's owner writes it, and only the owner reads the
-- statistics. index_state and the backfill tables stay readable as in a
-- fresh installation; documents and chunks keep every grant.
DO $$
DECLARE
    t regclass;
    g record;
    grantee text;
BEGIN
    FOR t IN SELECT unnest(ARRAY['rag_search.index_state', 'rag_search.term_stats', 'rag_search.term_stats_delta',
                                 'rag_search.corpus_stats', 'rag_search.corpus_stats_delta',
                                 'rag_search.backfill_failures', 'rag_search.backfill_state',
                                 'rag_search.chunk_counts']::regclass[])
    LOOP
        FOR g IN
            SELECT a.grantee, bool_or(a.privilege_type = 'SELECT') AS could_read
            FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
            WHERE c.oid = t AND a.grantee <> c.relowner
            GROUP BY a.grantee
        LOOP
            grantee := CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END;
            EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', t, grantee);
            IF g.could_read AND t NOT IN ('rag_search.term_stats'::regclass, 'rag_search.term_stats_delta'::regclass,
                                          'rag_search.corpus_stats'::regclass, 'rag_search.corpus_stats_delta'::regclass) THEN
                EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %s', t, grantee);
            END IF;
        END LOOP;
    END LOOP;
END $$;


-- Graph-RAG metadata (see sql/entities.sql in the source): the keys of the
-- entities a document names, and the entity index over them.
CREATE FUNCTION rag_search."entity_keys"(
	"metadata" jsonb
) RETURNS TEXT[]
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'entity_keys_wrapper';

CREATE INDEX documents_entity_keys ON rag_search.documents
    USING gin (rag_search.entity_keys(metadata))
    WHERE metadata ?| ARRAY['entity_names', 'entity_nodes', 'entity_relations'];

-- Documents related through the relations of their entity metadata.
CREATE FUNCTION @extschema@."rag_related_documents"(
	"doc_id" TEXT DEFAULT NULL,
	"entity" TEXT DEFAULT NULL,
	"hops" INT DEFAULT 1,
	"limit" INT DEFAULT 100
) RETURNS TABLE (
	"doc_id" TEXT,
	"title" TEXT,
	"hops" INT,
	"entity" TEXT,
	"relation" TEXT,
	"path" jsonb
)
STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'rag_related_documents_wrapper';

-- Evaluation and weight tuning on an operator's judged queries.
CREATE FUNCTION @extschema@."rag_evaluate"(
	"queries" regclass,
	"qrels" regclass,
	"modes" TEXT[] DEFAULT ARRAY['fts', 'vector', 'hybrid'],
	"k" INT DEFAULT 10,
	"options" jsonb DEFAULT NULL,
	"filter" jsonb DEFAULT NULL
) RETURNS TABLE (
	"mode" TEXT,
	"query_count" INT,
	"ndcg_at_k" double precision,
	"recall_at_k" double precision,
	"mrr_at_k" double precision,
	"hit_at_k" double precision,
	"mean_latency_ms" double precision
)
VOLATILE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'rag_evaluate_wrapper';

CREATE FUNCTION @extschema@."rag_tune_weights"(
	"queries" regclass,
	"qrels" regclass,
	"heldout_queries" regclass DEFAULT NULL,
	"k" INT DEFAULT 10,
	"options" jsonb DEFAULT NULL,
	"filter" jsonb DEFAULT NULL
) RETURNS TABLE (
	"setting" TEXT,
	"vector" double precision,
	"fts" double precision,
	"title" double precision,
	"lexical" double precision,
	"entity" double precision,
	"train_ndcg" double precision,
	"heldout_ndcg" double precision,
	"train_query_count" INT,
	"heldout_query_count" INT,
	"settings_tried" INT,
	"search_options" jsonb
)
VOLATILE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'rag_tune_weights_wrapper';

-- Postings for full-text top k (see sql/postings.sql in the source): the
-- tables, their triggers, the merge function, and the postings of every
-- existing chunk (built at the end of this script).
CREATE FUNCTION rag_search."postings_merge"(
	"due_only" bool DEFAULT false
) RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'postings_merge_wrapper';

CREATE TABLE rag_search.postings (
    lexeme   text     NOT NULL,
    cell     smallint NOT NULL,
    block    integer  NOT NULL,
    first_id bigint   NOT NULL,
    last_id  bigint   NOT NULL,
    n        integer  NOT NULL CHECK (n > 0),
    data     bytea    NOT NULL,
    PRIMARY KEY (lexeme, cell, block)
) WITH (fillfactor = 80);

CREATE TABLE rag_search.postings_pending (
    chunk_id bigint NOT NULL
);

CREATE TABLE rag_search.postings_dead (
    seq      bigint GENERATED ALWAYS AS IDENTITY,
    chunk_id bigint NOT NULL
);

-- One row: where the removal of deleted chunks from the blocks stands. A
-- pass walks every block in (lexeme, cell, block) order, a slice per merge;
-- dead ids up to gc_upto (the newest when the pass began) are forgotten
-- when it completes.
CREATE TABLE rag_search.postings_state (
    singleton    boolean  PRIMARY KEY DEFAULT true CHECK (singleton),
    gc_upto      bigint,
    gc_lexeme    text,
    gc_cell      smallint,
    gc_block     integer
);
INSERT INTO rag_search.postings_state DEFAULT VALUES;

CREATE FUNCTION rag_search.postings_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.postings_pending (chunk_id) SELECT n.id FROM new_chunks AS n;
    PERFORM rag_search.postings_merge(true);
    RETURN NULL;
END $$;

CREATE FUNCTION rag_search.postings_remove() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO rag_search.postings_dead (chunk_id) SELECT o.id FROM old_chunks AS o;
    PERFORM rag_search.postings_merge(true);
    RETURN NULL;
END $$;

CREATE FUNCTION rag_search.postings_reset() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    TRUNCATE rag_search.postings, rag_search.postings_pending, rag_search.postings_dead;
    UPDATE rag_search.postings_state SET gc_upto = NULL, gc_lexeme = NULL, gc_cell = NULL, gc_block = NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER chunks_postings_insert AFTER INSERT ON rag_search.chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag_search.postings_add();
CREATE TRIGGER chunks_postings_delete AFTER DELETE ON rag_search.chunks
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION rag_search.postings_remove();
CREATE TRIGGER chunks_postings_truncate AFTER TRUNCATE ON rag_search.chunks
    FOR EACH STATEMENT EXECUTE FUNCTION rag_search.postings_reset();

-- A chunk's text never changes in place: ingestion replaces changed chunks
-- (new rows) and keeps unchanged ones, and the stored tsvector, the content
-- hash, the embedding and the postings all describe the text the row was
-- inserted with. The document title indexed with it is part of that text:
-- a retitled document's chunks move to new rows.
CREATE FUNCTION rag_search.chunk_content_is_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'the content or document title of a chunk cannot be changed'
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Upsert the document with rag_upsert_document (changed chunks are replaced, a new title '
                     'moves them to new rows), or delete the chunk and insert a new one.';
END $$;
CREATE TRIGGER chunks_content_immutable BEFORE UPDATE OF content, document_title ON rag_search.chunks
    FOR EACH ROW WHEN (OLD.content IS DISTINCT FROM NEW.content OR OLD.document_title IS DISTINCT FROM NEW.document_title)
    EXECUTE FUNCTION rag_search.chunk_content_is_immutable();

-- Rebuilds every posting from the chunks (after a text-search configuration
-- change, to repair, or when upgrading from a version without postings).
CREATE FUNCTION rag_search.postings_rebuild() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rag_search.require_writable('rag_search.postings_rebuild()');
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('rag_search.postings_merge'));
    TRUNCATE rag_search.postings, rag_search.postings_pending, rag_search.postings_dead;
    UPDATE rag_search.postings_state SET gc_upto = NULL, gc_lexeme = NULL, gc_cell = NULL, gc_block = NULL;
    INSERT INTO rag_search.postings_pending (chunk_id) SELECT id FROM rag_search.chunks;
    RETURN rag_search.postings_merge(false);
END $$;

-- rag_candidate_pages with options (the source of the pages).
CREATE FUNCTION @extschema@."rag_candidate_pages"(
	"q" TEXT,
	"limit" INT,
	"options" jsonb
) RETURNS TABLE (
	"doc_id" TEXT,
	"title" TEXT,
	"rank" double precision,
	"hit_chunks" INT,
	"best_chunk_id" bigint,
	"title_score" double precision
)
STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'rag_candidate_pages_with_options_wrapper';

-- Attached sources (see sql/attach.sql in the source): existing tables
-- projected into the documents and chunks, kept current by their triggers.
CREATE FUNCTION @extschema@."rag_attach"(
	"source" regclass,
	"title" TEXT DEFAULT 'title',
	"content" TEXT DEFAULT 'content',
	"metadata" TEXT[] DEFAULT '{}',
	"pages" regclass DEFAULT NULL,
	"page_ref" TEXT DEFAULT 'page_id',
	"ordinal" TEXT DEFAULT 'chunk_index',
	"embedding" TEXT DEFAULT NULL,
	"embedding_model" TEXT DEFAULT NULL,
	"embedding_dim" INT DEFAULT NULL,
	"doc_id_prefix" TEXT DEFAULT NULL,
	"max_rows" INT DEFAULT NULL
) RETURNS TABLE (
	"source" TEXT,
	"kind" TEXT,
	"state" TEXT,
	"phase" TEXT,
	"rows_projected" INT,
	"rows_done" bigint,
	"rows_total" bigint
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'rag_attach_wrapper';

CREATE FUNCTION @extschema@."rag_attach_step"(
	"source" regclass DEFAULT NULL,
	"max_rows" INT DEFAULT NULL
) RETURNS TABLE (
	"source" TEXT,
	"kind" TEXT,
	"state" TEXT,
	"phase" TEXT,
	"rows_projected" INT,
	"rows_done" bigint,
	"rows_total" bigint
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'rag_attach_step_wrapper';

CREATE FUNCTION @extschema@."rag_detach"(
	"source" regclass
) RETURNS TABLE (
	"source" TEXT,
	"documents" bigint,
	"chunks" bigint
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'rag_detach_wrapper';

CREATE FUNCTION @extschema@."rag_source_status"() RETURNS TABLE (
	"source" TEXT,
	"kind" TEXT,
	"pages" TEXT,
	"doc_id_prefix" TEXT,
	"state" TEXT,
	"phase" TEXT,
	"rows_done" bigint,
	"rows_total" bigint,
	"progress_pct" NUMERIC(5, 2),
	"rows_per_sec" double precision,
	"eta" interval,
	"documents" bigint,
	"chunks" bigint,
	"embedded" bigint,
	"missing" bigint,
	"failed" bigint,
	"coverage_pct" NUMERIC(5, 2),
	"attached_at" timestamp with time zone,
	"completed_at" timestamp with time zone
)
STRICT STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'rag_source_status_wrapper';

CREATE FUNCTION rag_search."attached_source_changed"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'attached_source_changed_wrapper';

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

-- Internal functions are not executable by PUBLIC.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
        JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid AND d.deptype = 'e'
        WHERE e.extname = 'rag_search'
          AND p.pronamespace = 'rag_search'::regnamespace
          AND p.proname NOT IN ('bm25', 'document_frequencies', 'entity_keys', 'index_text', 'index_tsvector',
                                'chunk_tsvector')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;

-- The postings of every chunk stored so far.
SELECT rag_search.postings_rebuild();
