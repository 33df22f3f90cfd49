//! Search paths that call the embedding server, against the fixture server
//! on 127.0.0.1: query embedding and its cache, auto-mode fallback, cancel
//! and statement_timeout during a hanging request, read-only transactions.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixture_embedder::{expected_vector, Fault, FixtureConfig, FixtureServer};
use pgvector::Vector;
use postgres::{Client, Config, NoTls};
use rag_search_integration::shared_cluster;

const DOCS: [(&str, &str, &str); 4] = [
    ("ko:1", "대통령 탄핵 절차", "국회는 대통령에 대한 탄핵을 의결했다. 헌법재판소의 심판 절차는 180일 이내에 끝난다."),
    ("en:1", "Hybrid search", "Hybrid search combines full-text search with vector similarity."),
    ("en:2", "Backfill", "The backfill embeds chunks whose embedding is missing."),
    ("en:3", "Cooking", "Slice the onions thinly and fry them slowly."),
];

/// A database with the sample documents, every chunk embedded the way the
/// fixture embeds its text, and the session pointed at `fixture`.
fn setup(db: &str, fixture: &FixtureServer) -> Client {
    let mut c = shared_cluster().new_database(db);
    for (id, title, content) in DOCS {
        c.execute("SELECT rag_upsert_document($1, $2, $3)", &[&id, &title, &content]).unwrap();
    }
    let rows = c.query("SELECT id, content FROM rag_search.chunks", &[]).unwrap();
    for r in rows {
        let id: i64 = r.get(0);
        let content: String = r.get(1);
        let v = Vector::from(expected_vector(&content, 4096, 1024));
        c.execute(
            "UPDATE rag_search.chunks SET embedding = $2, embedding_model = 'qwen3-embedding:8b',
             embedding_dim = 1024, embedded_at = now() WHERE id = $1",
            &[&id, &v],
        )
        .unwrap();
    }
    point_at(&mut c, fixture);
    c
}

fn point_at(c: &mut Client, fixture: &FixtureServer) {
    c.batch_execute(&format!(
        "SET rag_search.embedding_url = '{}'; SET rag_search.query_template = '{{text}}';
         SET rag_search.embedding_timeout = '20s'",
        fixture.url()
    ))
    .unwrap();
}

fn fixture() -> FixtureServer {
    FixtureServer::start(FixtureConfig::default()).expect("start fixture embedder")
}

fn cache_rows(c: &mut Client) -> i64 {
    c.query_one("SELECT count(*) FROM rag_search.query_embedding_cache", &[]).unwrap().get(0)
}

#[test]
fn vector_and_hybrid_embed_the_query_once_then_use_the_cache() {
    let fx = fixture();
    let mut c = setup("it_search_cache", &fx);
    // The query text equals a chunk's text, so its embedding is identical.
    let q = DOCS[1].2;
    let row = c.query_one("SELECT doc_id, mode, vector_score FROM rag_hybrid_search($1, 1, 'vector')", &[&q]).unwrap();
    assert_eq!(row.get::<_, String>(0), "en:1");
    assert_eq!(row.get::<_, String>(1), "vector");
    assert!((row.get::<_, f64>(2) - 1.0).abs() < 1e-5);
    assert_eq!(fx.requests(), 1);
    assert_eq!(fx.last_inputs(), vec![q.to_string()], "the query template {{text}} sends the query as is");
    assert_eq!(cache_rows(&mut c), 1);

    for mode in ["vector", "hybrid", "auto"] {
        let row = c.query_one("SELECT doc_id, mode FROM rag_hybrid_search($1, 1, $2)", &[&q, &mode]).unwrap();
        assert_eq!(row.get::<_, String>(0), "en:1", "{mode}");
        assert_eq!(row.get::<_, String>(1), if mode == "vector" { "vector" } else { "hybrid" });
    }
    assert_eq!(fx.requests(), 1, "repeated queries are served from the cache");

    // A different template is a different input: a new request.
    c.batch_execute("SET rag_search.query_template = 'query: {text}'").unwrap();
    c.query("SELECT * FROM rag_hybrid_search($1, 3, 'hybrid')", &[&q]).unwrap();
    assert_eq!(fx.requests(), 2);
    assert_eq!(fx.last_inputs(), vec![format!("query: {q}")]);
}

#[test]
fn auto_falls_back_when_the_server_is_down_and_explicit_modes_fail_clearly() {
    let fx = fixture();
    let mut c = setup("it_search_down", &fx);
    fx.stop();
    let notices: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = notices.clone();
    let mut cfg: Config = shared_cluster().dsn("it_search_down").parse().unwrap();
    cfg.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()));
    let mut c2 = cfg.connect(NoTls).unwrap();
    point_at(&mut c2, &fx);
    let rows = c2.query("SELECT doc_id, mode FROM rag_hybrid_search('hybrid search vector', 3)", &[]).unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.get::<_, String>(1) == "fts+lexical"));
    assert_eq!(rows[0].get::<_, String>(0), "en:1");
    let notices = notices.lock().unwrap().clone();
    assert!(notices.iter().any(|n| n.contains("fts+lexical")), "{notices:?}");

    let err = c.query("SELECT * FROM rag_hybrid_search('hybrid search', 3, 'vector')", &[]).unwrap_err();
    let db = err.as_db_error().expect("database error");
    assert_eq!(db.code().code(), "58000", "{}", db.message());
    assert!(db.message().contains(&fx.url()) && db.message().contains("qwen3-embedding:8b"), "{}", db.message());
    assert!(db.hint().is_some());
}

#[test]
fn auto_falls_back_when_the_server_misses_the_deadline() {
    let fx = fixture();
    let mut c = setup("it_search_deadline", &fx);
    fx.set_fault(Fault::Hang);
    c.batch_execute("SET rag_search.auto_embedding_timeout = '300ms'").unwrap();
    let mode: String =
        c.query_one("SELECT mode FROM rag_hybrid_search('vector similarity', 1)", &[]).unwrap().get(0);
    assert_eq!(mode, "fts+lexical");
    fx.set_fault(Fault::None);
}

#[test]
fn low_coverage_makes_auto_skip_the_embedding_server() {
    let fx = fixture();
    let mut c = setup("it_search_coverage", &fx);
    c.batch_execute("UPDATE rag_search.chunks SET embedding = NULL, embedding_model = NULL, embedding_dim = NULL WHERE id % 2 = 0").unwrap();
    let mode: String = c.query_one("SELECT mode FROM rag_hybrid_search('onions', 1)", &[]).unwrap().get(0);
    assert_eq!(mode, "fts+lexical");
    assert_eq!(fx.requests(), 0, "no HTTP call when coverage is too low");
    c.batch_execute("SET rag_search.auto_min_coverage = 0.4").unwrap();
    let mode: String = c.query_one("SELECT mode FROM rag_hybrid_search('onions', 1)", &[]).unwrap().get(0);
    assert_eq!(mode, "hybrid");
}

/// Runs a search that will hang in the embedding call on its own
/// connection; returns the error it ends with.
fn hanging_search(fx: &FixtureServer, db: &str, prepare: &str, interrupt: Option<&mut Client>) -> postgres::Error {
    let mut c = shared_cluster().connect(db);
    point_at(&mut c, fx);
    c.batch_execute(prepare).unwrap();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let before = fx.requests();
    let worker = std::thread::spawn(move || {
        let started = Instant::now();
        let r = c.query("SELECT * FROM rag_hybrid_search('a query nobody asked before', 3, 'vector')", &[]);
        (r, started.elapsed())
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while fx.requests() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(admin) = interrupt {
        let cancelled: bool = admin.query_one("SELECT pg_cancel_backend($1)", &[&pid]).unwrap().get(0);
        assert!(cancelled);
    }
    let (result, elapsed) = worker.join().expect("search thread");
    eprintln!("search ended after {elapsed:?}");
    result.expect_err("the search must not succeed against a hanging server")
}

#[test]
fn pg_cancel_backend_interrupts_a_hanging_embedding_call() {
    let fx = fixture();
    let mut admin = setup("it_search_cancel", &fx);
    fx.set_fault(Fault::Hang);
    let err = hanging_search(&fx, "it_search_cancel", "SELECT 1", Some(&mut admin));
    assert_eq!(err.as_db_error().map(|e| e.code().code()), Some("57014"), "{err}");
    fx.set_fault(Fault::None);
}

#[test]
fn statement_timeout_interrupts_a_hanging_embedding_call() {
    let fx = fixture();
    let _c = setup("it_search_timeout", &fx);
    fx.set_fault(Fault::Hang);
    let err = hanging_search(&fx, "it_search_timeout", "SET statement_timeout = '500ms'", None);
    let db = err.as_db_error().expect("database error");
    assert_eq!(db.code().code(), "57014", "{}", db.message());
    assert!(db.message().contains("statement timeout"), "{}", db.message());
    fx.set_fault(Fault::None);
}

#[test]
fn search_works_in_a_read_only_transaction_without_writing_the_cache() {
    let fx = fixture();
    let mut c = setup("it_search_readonly", &fx);
    let q = DOCS[2].2;
    c.batch_execute("BEGIN READ ONLY").unwrap();
    let row = c.query_one("SELECT doc_id, mode FROM rag_hybrid_search($1, 1, 'hybrid')", &[&q]).unwrap();
    assert_eq!(row.get::<_, String>(0), "en:2");
    assert_eq!(row.get::<_, String>(1), "hybrid");
    c.batch_execute("COMMIT").unwrap();
    assert_eq!(cache_rows(&mut c), 0);
    assert_eq!(fx.requests(), 1);
    c.query("SELECT * FROM rag_hybrid_search($1, 3, 'hybrid')", &[&q]).unwrap();
    assert_eq!(cache_rows(&mut c), 1, "a read-write transaction fills the cache");
}

#[test]
fn a_search_only_role_searches_and_the_extension_caches_its_query() {
    let fx = fixture();
    let mut c = setup("it_search_role", &fx);
    c.batch_execute(
        "DROP ROLE IF EXISTS rag_reader; CREATE ROLE rag_reader;
         GRANT USAGE ON SCHEMA rag_search TO rag_reader;
         GRANT SELECT ON rag_search.documents, rag_search.chunks TO rag_reader;
         SET ROLE rag_reader",
    )
    .unwrap();
    let q = DOCS[3].2;
    let row = c.query_one("SELECT doc_id, mode FROM rag_hybrid_search($1, 1, 'vector')", &[&q]).unwrap();
    assert_eq!(row.get::<_, String>(0), "en:3");
    // The cache belongs to the extension: the role has no privilege on it,
    // its search is cached all the same (written as the extension's owner).
    let denied = c.query("SELECT count(*) FROM rag_search.query_embedding_cache", &[]).unwrap_err();
    assert_eq!(denied.code(), Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE));
    c.batch_execute("RESET ROLE").unwrap();
    assert_eq!(cache_rows(&mut c), 1, "the role's query embedding is cached");
    c.batch_execute("DROP OWNED BY rag_reader; DROP ROLE rag_reader").unwrap();
}
