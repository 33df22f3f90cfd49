//! Read replicas: a hot standby made with `pg_basebackup -R` and kept
//! current by streaming replication. On the standby every search mode and
//! rag_candidate_pages answer exactly as on the primary (the query embedded
//! over HTTP, the query-embedding cache left unwritten), the backfill
//! status and progress are readable, embeddings the primary's worker writes
//! arrive, and every function of the extension that writes — found in
//! pg_proc, so a new one cannot be forgotten — fails with 25006 and a hint
//! instead of an internal error; the same functions fail the same way in a
//! read-only transaction on the primary. The server-started backfill worker
//! does not run on the standby and takes over the backfill once the standby
//! is promoted.

use std::time::Duration;

use fixture_embedder::expected_vector;
use pgvector::Vector;
use postgres::error::SqlState;
use rag_search_integration::backfill::{
    point_at, set_db, start_small_fixture, status, wait_for_state, wait_until, worker_pids, SMALL_DIM,
    SMALL_NATIVE_DIM,
};
use rag_search_integration::compare::{assert_same_lines, assert_same_rows, dumped_rows, search_results, QUERIES};
use rag_search_integration::samples::load_samples;
use rag_search_integration::{connect_dsn, Client, Cluster, ClusterOptions};

const DB: &str = "replica";
const LONG: Duration = Duration::from_secs(120);

/// The functions of the extension that only read, each with a call that
/// runs it on the standby. Every other function of the extension (trigger
/// functions aside) must refuse to run there.
const READS: [(&str, &str); 16] = [
    ("rag_hybrid_search/5", "SELECT * FROM rag_hybrid_search('hybrid search', 3, 'fts')"),
    ("rag_hybrid_search/6", "SELECT * FROM rag_hybrid_search('hybrid search', $1, 3, 'vector')"),
    ("rag_candidate_pages/2", "SELECT * FROM rag_candidate_pages('hybrid search', 3)"),
    ("rag_candidate_pages/3", "SELECT * FROM rag_candidate_pages('hybrid search', 3, '{}')"),
    ("rag_stats/0", "SELECT * FROM rag_stats()"),
    ("rag_source_status/0", "SELECT * FROM rag_source_status()"),
    ("rag_backfill_status/0", "SELECT * FROM rag_backfill_status()"),
    ("rag_search.bm25/2", "SELECT rag_search.bm25(tsv, '\\x00'::bytea) FROM rag_search.chunks LIMIT 1"),
    (
        "rag_search.document_frequencies/2",
        "SELECT * FROM rag_search.document_frequencies(ARRAY[to_tsvector('simple', 'a b')], 1)",
    ),
    ("rag_search.index_text/1", "SELECT rag_search.index_text('탄핵을')"),
    ("rag_search.index_tsvector/2", "SELECT rag_search.index_tsvector('simple', '탄핵을')"),
    ("rag_search.chunk_tsvector/3", "SELECT rag_search.chunk_tsvector('simple', '탄핵 절차', '탄핵을')"),
    ("rag_evaluate/6", "SELECT * FROM rag_evaluate('public.judged_queries', 'public.judgments', ARRAY['fts', 'vector'], 3)"),
    ("rag_tune_weights/6", "SELECT * FROM rag_tune_weights('public.judged_queries', 'public.judgments', k => 3)"),
    ("rag_related_documents/4", "SELECT * FROM rag_related_documents(entity => 'PostgreSQL')"),
    ("rag_search.entity_keys/1", "SELECT rag_search.entity_keys('{\"entity_names\": [\"PostgreSQL\"]}'::jsonb)"),
];

/// Functions that write, by name, that the enumeration must find (a check
/// that it finds anything at all).
const KNOWN_WRITES: [&str; 8] = [
    "rag_upsert_documents/1",
    "rag_delete_document/1",
    "rag_set_embedding_model/2",
    "rag_backfill_step/1",
    "rag_backfill_recount/0",
    "rag_search.postings_rebuild/0",
    "rag_search.postings_merge/1",
    "rag_search.term_stats_compact/1",
];

/// A function of the extension: `schema.name` (the API schema is left
/// out), the number of arguments, their types.
struct Function {
    name: String,
    types: Vec<String>,
}

impl Function {
    fn key(&self) -> String {
        format!("{}/{}", self.name, self.types.len())
    }

    /// A call with a valid value of each argument's type.
    fn call(&self) -> String {
        let args: Vec<String> = self.types.iter().map(|t| sample_value(t, &self.key())).collect();
        format!("SELECT * FROM {}({})", self.name, args.join(", "))
    }
}

fn sample_value(sql_type: &str, function: &str) -> String {
    let literal = match sql_type {
        "text" => "'replica probe'",
        "integer" => "1",
        "bigint" => "1",
        "boolean" => "false",
        "jsonb" => "'{}'",
        "bigint[]" => "'{}'",
        "regconfig" => "'simple'",
        "regclass" => "'pg_catalog.pg_class'",
        "text[]" => "'{}'",
        other => panic!("{function}: add a sample value for arguments of type {other}"),
    };
    format!("{literal}::{sql_type}")
}

/// Every function of the installed extension that can be called directly
/// (trigger and event trigger functions cannot), in name order.
fn extension_functions(c: &mut Client) -> Vec<Function> {
    c.query(
        "SELECT CASE WHEN n.nspname = 'rag_search' THEN 'rag_search.' ELSE '' END || p.proname,
                ARRAY(SELECT pg_catalog.format_type(a.t, NULL)
                      FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i) ORDER BY a.i)
         FROM pg_catalog.pg_proc AS p
         JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
         JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
         JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid AND d.deptype = 'e'
         WHERE e.extname = 'rag_search'
           AND p.prorettype NOT IN ('pg_catalog.trigger'::pg_catalog.regtype, 'pg_catalog.event_trigger'::pg_catalog.regtype)
         ORDER BY 1, 2",
        &[],
    )
    .expect("list the extension's functions")
    .iter()
    .map(|r| Function { name: r.get(0), types: r.get(1) })
    .collect()
}

/// The functions that write: every callable function but the READS.
fn writing_functions(c: &mut Client) -> Vec<Function> {
    let all = extension_functions(c);
    let keys: Vec<String> = all.iter().map(Function::key).collect();
    for (read, _) in READS {
        assert!(keys.iter().any(|k| k == read), "{read} is not a function of the extension: {keys:?}");
    }
    for write in KNOWN_WRITES {
        assert!(keys.iter().any(|k| k == write), "{write} is not a function of the extension: {keys:?}");
    }
    all.into_iter().filter(|f| !READS.iter().any(|(read, _)| *read == f.key())).collect()
}

/// Asserts that `sql` fails with 25006, a message containing `message` and
/// a hint naming the primary.
fn assert_refused(c: &mut Client, what: &str, sql: &str, message: &str) {
    let err = match c.query(sql, &[]) {
        Ok(rows) => panic!("{what} ran ({} rows): {sql}", rows.len()),
        Err(e) => e,
    };
    let db = err.as_db_error().unwrap_or_else(|| panic!("{what}: {err}"));
    assert_eq!(db.code(), &SqlState::READ_ONLY_SQL_TRANSACTION, "{what}: {} ({sql})", db.message());
    assert!(db.message().contains(message), "{what}: {}", db.message());
    let hint = db.hint().unwrap_or_else(|| panic!("{what}: no hint for {}", db.message()));
    assert!(hint.contains("primary"), "{what}: hint {hint:?}");
}

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// One line per row of searches with options (fusion, windows, keywords),
/// whose results must be the same on the primary and the standby.
fn option_results(c: &mut Client, v: &Vector) -> Vec<String> {
    let mut out = Vec::new();
    for (q, options) in [
        ("hybrid search vector", r#"{"fusion": "rrf"}"#),
        ("backfill embedding", r#"{"window": 1}"#),
        ("탄핵 절차", r#"{"window": 1, "require_all_keywords": true}"#),
        ("헌법재판소", r#"{"require_all_keywords": true, "weights": {"vector": 0.2, "fts": 0.8}}"#),
    ] {
        for mode in ["auto", "hybrid", "fts", "vector", "lexical"] {
            let rows = c
                .query(
                    "SELECT rank, chunk_id, doc_id, score::text, mode, context
                     FROM rag_hybrid_search($1, 5, $2, NULL, $3::text::jsonb)",
                    &[&q, &mode, &options],
                )
                .unwrap_or_else(|e| panic!("{q} / {mode} / {options}: {e}"));
            for r in rows {
                out.push(format!(
                    "{q} / {mode} / {options}: #{} chunk {} {} {} {} {:?}",
                    r.get::<_, i32>(0),
                    r.get::<_, i64>(1),
                    r.get::<_, String>(2),
                    r.get::<_, String>(3),
                    r.get::<_, String>(4),
                    r.get::<_, Option<String>>(5)
                ));
            }
        }
        let rows = c
            .query("SELECT * FROM rag_hybrid_search($1, $2, 5, 'hybrid', NULL, $3::text::jsonb)", &[&q, v, &options])
            .unwrap_or_else(|e| panic!("{q} with a vector / {options}: {e}"));
        out.extend(rows.iter().map(|r| format!("{q} with a vector / {options}: chunk {}", r.get::<_, i64>(1))));
    }
    out
}

#[test]
fn a_hot_standby_serves_every_search_and_refuses_every_write() {
    let fx = start_small_fixture();
    let primary = Cluster::start("replica_primary", ClusterOptions::new().preload());
    let mut p = primary.new_database(DB);
    point_at(&mut p, DB, &fx);
    set_db(&mut p, DB, &[("rag_search.backfill_poll_interval", "'200ms'")]);
    p.batch_execute(
        "CREATE ROLE reader LOGIN;
         GRANT USAGE ON SCHEMA rag_search TO reader;
         GRANT SELECT ON rag_search.documents, rag_search.chunks TO reader;",
    )
    .unwrap();
    let mut p = primary.connect(DB);
    p.batch_execute(&format!("SELECT * FROM rag_set_embedding_model('m', {SMALL_DIM})")).unwrap();
    let chunks = load_samples(&mut p, 39);
    // Judged queries for rag_evaluate and rag_tune_weights on the standby.
    p.batch_execute(
        "CREATE TABLE public.judged_queries (query_id text, query text);
         INSERT INTO public.judged_queries VALUES ('q1', '탄핵 절차'), ('q2', 'hybrid search');
         CREATE TABLE public.judgments (query_id text, doc_id text, relevance int);
         INSERT INTO public.judgments
             SELECT q, doc_id, 1 FROM unnest(ARRAY['q1', 'q2']) AS q,
                  (SELECT doc_id FROM rag_search.documents ORDER BY doc_id LIMIT 2) AS d;",
    )
    .unwrap();

    // The standby is copied before anything is embedded; the server-started
    // worker is configured on it (and must not run while it is a standby).
    let standby = primary.start_standby(
        "replica_standby",
        ClusterOptions::new()
            .set("log_min_messages", "log")
            .set("rag_search.backfill_enabled", "on")
            .set("rag_search.backfill_database", &format!("'{DB}'")),
    );
    let mut s = standby.connect(DB);
    assert!(s.query_one("SELECT pg_is_in_recovery()", &[]).unwrap().get::<_, bool>(0));

    // The primary's worker embeds everything; the standby receives it.
    p.batch_execute("SELECT * FROM rag_backfill_start('bootstrap', 16, 0)").unwrap();
    let done = wait_for_state(&mut p, "idle", LONG);
    assert_eq!((done.total, done.embedded, done.missing), (chunks, chunks, 0), "{done:?}");
    primary.wait_for_replay(&standby);
    let st = status(&mut s);
    assert_eq!((st.total, st.embedded, st.missing, st.coverage_pct.as_str()), (chunks, chunks, 0, "100.00"), "{st:?}");
    assert_eq!(st.state, "idle");
    assert_same_rows("the standby's tables", &dumped_rows(&mut p), &dumped_rows(&mut s));

    // Every search mode and rag_candidate_pages answer on the standby as on
    // the primary: with a given vector, and with the query embedded over
    // HTTP (the primary fills its cache first; the standby reads it).
    let v = Vector::from(expected_vector("hybrid search", SMALL_NATIVE_DIM, SMALL_DIM));
    let on_primary = search_results(&mut p, &QUERIES, &v, true);
    let with_options = option_results(&mut p, &v);
    // On the primary, searches (their query embeddings cached) and status
    // reads assign no transaction id: they commit without writing WAL.
    for sql in [
        "SELECT * FROM rag_hybrid_search($1, 5, 'auto')",
        "SELECT * FROM rag_hybrid_search($1, 5, 'hybrid', NULL, '{\"fusion\": \"rrf\", \"window\": 1}')",
        "SELECT * FROM rag_hybrid_search($1, 5, 'vector')",
        "SELECT * FROM rag_hybrid_search($1, 5, 'fts', '{\"lang\": \"en\"}')",
        "SELECT * FROM rag_hybrid_search($1, 5, 'lexical', NULL, '{\"require_all_keywords\": true}')",
        "SELECT * FROM rag_candidate_pages($1, 5)",
        "SELECT *, $1 FROM rag_backfill_status()",
        "SELECT *, $1 FROM rag_stats()",
    ] {
        p.batch_execute("BEGIN").unwrap();
        p.query(sql, &[&QUERIES[0]]).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let xid: Option<String> = p.query_one("SELECT pg_current_xact_id_if_assigned()::text", &[]).unwrap().get(0);
        assert_eq!(xid, None, "{sql} assigned a transaction id");
        p.batch_execute("COMMIT").unwrap();
    }
    primary.wait_for_replay(&standby);
    let cached = count(&mut s, "SELECT count(*) FROM rag_search.query_embedding_cache");
    assert!(cached > 0, "the primary caches its query embeddings");
    assert_same_lines("searches on the standby", &on_primary, &search_results(&mut s, &QUERIES, &v, true));
    assert_same_lines("searches with options on the standby", &with_options, &option_results(&mut s, &v));

    // A query the primary never saw: embedded over HTTP by the standby,
    // every time (nothing is cached there), without an error.
    let requests = fx.requests();
    for round in 1..=2 {
        for mode in ["auto", "hybrid", "vector"] {
            let rows = s
                .query("SELECT mode FROM rag_hybrid_search('a search only the standby hears', 3, $1)", &[&mode])
                .unwrap_or_else(|e| panic!("{mode} on the standby: {e}"));
            let ran = rows.first().map(|r| r.get::<_, String>(0));
            assert_eq!(ran.as_deref(), Some(if mode == "vector" { "vector" } else { "hybrid" }), "{mode}");
        }
        assert_eq!(fx.requests(), requests + 3 * round, "every query is embedded over HTTP");
    }
    assert_eq!(count(&mut s, "SELECT count(*) FROM rag_search.query_embedding_cache"), cached, "cache written");

    // A search role: every mode, the status and the progress view.
    let mut reader = connect_dsn(&standby.dsn_as(DB, "reader"));
    for mode in ["auto", "hybrid", "fts", "vector", "lexical"] {
        let n = reader.query("SELECT * FROM rag_hybrid_search('탄핵 절차', 5, $1)", &[&mode]).unwrap().len();
        assert!(n > 0, "{mode} as a search role on the standby");
    }
    assert!(!reader.query("SELECT * FROM rag_candidate_pages('탄핵 절차', 5)", &[]).unwrap().is_empty());
    assert_eq!(status(&mut reader).embedded, chunks);
    let progress = reader.query_one("SELECT coverage_pct::text, state FROM rag_backfill_progress", &[]).unwrap();
    assert_eq!((progress.get::<_, String>(0), progress.get::<_, String>(1)), ("100.00".into(), "idle".into()));

    // Every function: the reads run, everything else refuses with 25006.
    for (function, sql) in READS {
        let result = if sql.contains("$1") { s.query(sql, &[&v]) } else { s.query(sql, &[]) };
        result.unwrap_or_else(|e| panic!("{function} on the standby: {:?}", e.as_db_error()));
    }
    let writes = writing_functions(&mut p);
    for f in &writes {
        assert_refused(&mut s, &format!("{} on the standby", f.key()), &f.call(), "cannot run on a hot standby");
    }
    // The same in a read-only transaction on the primary.
    for f in &writes {
        p.batch_execute("BEGIN READ ONLY").unwrap();
        let what = format!("{} in a read-only transaction", f.key());
        assert_refused(&mut p, &what, &f.call(), "cannot run in a read-only transaction");
        p.batch_execute("ROLLBACK").unwrap();
    }

    // The standby reports the primary's worker as the primary records it
    // (it cannot see the primary's locks).
    p.batch_execute("SELECT * FROM rag_backfill_start('maintenance')").unwrap();
    wait_for_state(&mut p, "running", LONG);
    primary.wait_for_replay(&standby);
    assert_eq!(status(&mut s).state, "running");
    p.batch_execute("SELECT * FROM rag_backfill_stop()").unwrap();
    wait_for_state(&mut p, "stopped", LONG);
    p.batch_execute("SELECT * FROM rag_backfill_start('bootstrap')").unwrap();
    wait_for_state(&mut p, "idle", LONG);

    // A document the primary ingests with no worker running reaches the
    // standby unembedded; the standby's server-started worker never ran.
    p.batch_execute("SELECT * FROM rag_upsert_document('late:1', 'Late', 'Ingested on the primary last.')").unwrap();
    primary.wait_for_replay(&standby);
    assert_eq!(status(&mut s).missing, 1);
    let mut admin = standby.connect("postgres");
    assert!(worker_pids(&mut admin, DB).is_empty(), "a backfill worker runs on the standby");
    let log = standby.server_log();
    assert!(!log.contains("rag_search backfill"), "the standby's log mentions the worker:\n{log}");

    // Promoted, the standby accepts writes and its server-started worker
    // embeds what is missing.
    drop(primary);
    standby.promote();
    let mut s = standby.connect(DB);
    assert!(wait_until(LONG, || status(&mut s).missing == 0), "the promoted standby's worker never embedded");
    s.batch_execute("SELECT * FROM rag_upsert_document('after:1', 'After', 'Ingested after the promotion.')").unwrap();
    assert_eq!(count(&mut s, "SELECT count(*) FROM rag_hybrid_search('promotion', 3, 'fts')"), 1);
}
