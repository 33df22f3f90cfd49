//! The grant recipes of README.md's Security section, run exactly as
//! written (parsed out of README.md, so the documentation and the test
//! cannot drift): each role can do its job and nothing more, and the
//! catalog shows exactly the privileges the recipes grant. Also: CREATE
//! EXTENSION refuses a pre-existing rag_search_admin it did not create.

use std::time::Duration;

use fixture_embedder::{expected_vector, Fault};
use pgvector::Vector;
use postgres::error::SqlState;
use rag_search_integration::backfill::{status, wait_for_state, wait_until, SMALL_DIM, SMALL_NATIVE_DIM};
use rag_search_integration::samples::embedded_samples_database;
use rag_search_integration::{connect_dsn, readme_recipe, shared_cluster, Client, Cluster, ClusterOptions};

fn code_of(c: &mut Client, sql: &str) -> Option<SqlState> {
    c.batch_execute(sql).err().map(|e| e.code().cloned().unwrap_or_else(|| panic!("{sql}: {e}")))
}

fn assert_refused(c: &mut Client, who: &str, statements: &[&str]) {
    for sql in statements {
        assert_eq!(code_of(c, sql), Some(SqlState::INSUFFICIENT_PRIVILEGE), "{who} may not: {sql}");
    }
}

fn assert_allowed(c: &mut Client, who: &str, statements: &[&str]) {
    for sql in statements {
        if let Err(e) = c.batch_execute(sql) {
            panic!("{who} should be able to: {sql}: {}", e.as_db_error().map_or(e.to_string(), |d| d.message().to_string()));
        }
    }
}

/// Writes nobody but a superuser may make: the model state, the
/// statistics, the cache, the backfill bookkeeping, the internal functions.
const BOOKKEEPING_WRITES: [&str; 17] = [
    "UPDATE rag_search.index_state SET embedding_model = 'x'",
    "UPDATE rag_search.index_state SET changed_at = now()",
    "INSERT INTO rag_search.term_stats VALUES ('x', 1)",
    "UPDATE rag_search.corpus_stats SET chunks = 0",
    "INSERT INTO rag_search.term_stats_delta VALUES ('{x}', '{1}')",
    "INSERT INTO rag_search.corpus_stats_delta VALUES (1, 1)",
    "DELETE FROM rag_search.query_embedding_cache",
    "UPDATE rag_search.backfill_state SET stop_requested = true",
    "DELETE FROM rag_search.backfill_failures",
    "INSERT INTO rag_search.chunk_counts (chunks, embedded) VALUES (1000, 1000)",
    "TRUNCATE rag_search.chunk_counts",
    "SELECT rag_search.term_stats_compact()",
    "SELECT rag_search.term_stats_rebuild()",
    "SELECT rag_search.compact_chunk_counts()",
    "SELECT rag_search.embedding_index_rebuild(8)",
    "SELECT rag_search.tsvector_rebuild('simple')",
    "SELECT * FROM rag_set_embedding_model('other', 8)",
];

const BACKFILL_CALLS: [&str; 6] = [
    "SELECT * FROM rag_backfill_step(1)",
    "SELECT * FROM rag_backfill_start()",
    "SELECT * FROM rag_backfill_stop()",
    "SELECT * FROM rag_backfill_resume()",
    "SELECT rag_backfill_retry_failed()",
    "SELECT * FROM rag_backfill_recount()",
];

/// Every privilege `role` holds on the extension's objects and the roles
/// it is a member of, as sorted lines.
fn privileges_of(c: &mut Client, role: &str) -> Vec<String> {
    c.query(
        "SELECT line FROM (
             SELECT 'schema ' || n.nspname || ' ' || a.privilege_type AS line
             FROM pg_namespace n, aclexplode(n.nspacl) a
             WHERE n.nspname = 'rag_search' AND a.grantee = $1::text::regrole
             UNION ALL
             SELECT 'table ' || c.oid::regclass::text || ' ' || a.privilege_type
             FROM pg_class c, aclexplode(c.relacl) a
             WHERE (c.relnamespace = 'rag_search'::regnamespace OR c.relname = 'rag_backfill_progress')
               AND a.grantee = $1::text::regrole
             UNION ALL
             SELECT 'column ' || c.oid::regclass::text || '.' || att.attname || ' ' || a.privilege_type
             FROM pg_class c JOIN pg_attribute att ON att.attrelid = c.oid, aclexplode(att.attacl) a
             WHERE c.relnamespace = 'rag_search'::regnamespace AND a.grantee = $1::text::regrole
             UNION ALL
             SELECT 'function ' || p.oid::regprocedure::text || ' ' || a.privilege_type
             FROM pg_proc p, aclexplode(p.proacl) a
             WHERE a.grantee = $1::text::regrole
             UNION ALL
             SELECT 'member of ' || m.roleid::regrole::text FROM pg_auth_members m WHERE m.member = $1::text::regrole
         ) s ORDER BY line",
        &[&role],
    )
    .expect("read privileges")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[test]
fn the_readme_grant_recipes_give_each_role_its_job_and_nothing_more() {
    let cluster = shared_cluster();
    let db = "it_grant_recipes";
    let (mut admin, fx) = embedded_samples_database(db, 12);
    for label in ["Search", "Ingestion", "Operations"] {
        admin.batch_execute(&readme_recipe(label)).unwrap_or_else(|e| panic!("the {label} recipe: {e}"));
    }

    // The catalog shows exactly what the recipes grant.
    let expect = |lines: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(
        privileges_of(&mut admin, "app"),
        expect(&[
            "schema rag_search USAGE",
            "table rag_search.chunks SELECT",
            "table rag_search.documents SELECT",
        ])
    );
    let mut ingest_rights = vec!["schema rag_search USAGE".to_string()];
    for table in ["chunks", "documents"] {
        for right in ["DELETE", "INSERT", "SELECT", "UPDATE"] {
            ingest_rights.push(format!("table rag_search.{table} {right}"));
        }
    }
    let ingest_rights: Vec<&str> = ingest_rights.iter().map(String::as_str).collect();
    assert_eq!(privileges_of(&mut admin, "ingest"), expect(&ingest_rights));
    assert_eq!(
        privileges_of(&mut admin, "ops"),
        expect(&["member of rag_search_admin", "schema rag_search USAGE", "table rag_search.chunks SELECT"])
    );

    // Search: every mode, with the query embedded by the fixture or given.
    let mut app = connect_dsn(&cluster.dsn_as(db, "app"));
    let v = Vector::from(expected_vector("hybrid search", SMALL_NATIVE_DIM, SMALL_DIM));
    for mode in ["auto", "hybrid", "fts", "vector", "lexical"] {
        let rows = app
            .query("SELECT mode FROM rag_hybrid_search('hybrid search vector', 5, $1)", &[&mode])
            .unwrap_or_else(|e| panic!("app, {mode}: {e}"));
        assert!(!rows.is_empty(), "{mode}");
        if mode != "auto" {
            let rows = app
                .query("SELECT mode FROM rag_hybrid_search('hybrid search', $1, 5, $2)", &[&v, &mode])
                .unwrap_or_else(|e| panic!("app, {mode} with a vector: {e}"));
            assert!(!rows.is_empty(), "{mode} with a vector");
        }
    }
    assert!(fx.requests() > 1, "queries were embedded for the search role");
    assert_allowed(&mut app, "app", &[
        "SELECT * FROM rag_candidate_pages('탄핵 절차', 5)",
        "SELECT * FROM rag_stats()",
        "SELECT * FROM rag_backfill_status()",
        "TABLE rag_backfill_progress",
    ]);
    let mut refused_to_app = vec![
        "SELECT * FROM rag_upsert_document('app:1', 'T', 'text')",
        "SELECT * FROM rag_upsert_documents('[{\"doc_id\": \"app:2\", \"content\": \"text\"}]')",
        "SELECT rag_delete_document('wiki:backfill')",
        "DELETE FROM rag_search.chunks",
        "UPDATE rag_search.documents SET title = 'x'",
        "SELECT rag_set_text_search_config('english')",
    ];
    refused_to_app.extend(BACKFILL_CALLS);
    refused_to_app.extend(BOOKKEEPING_WRITES);
    assert_refused(&mut app, "app", &refused_to_app);

    // Ingestion: upsert, re-upsert, retitle, delete; nothing else.
    let mut ingest = connect_dsn(&cluster.dsn_as(db, "ingest"));
    assert_allowed(&mut ingest, "ingest", &[
        "SELECT * FROM rag_upsert_document('ingest:1', 'Title', 'First paragraph.\n\nSecond paragraph.', '{\"k\": 1}', 'test')",
        "SELECT * FROM rag_upsert_document('ingest:1', 'New title', 'First paragraph.\n\nChanged paragraph.', '{\"k\": 1}', 'test')",
        "SELECT * FROM rag_upsert_documents('[{\"doc_id\": \"ingest:2\", \"title\": \"Two\", \"content\": \"Bulk text.\"}]')",
        "SELECT rag_delete_document('ingest:2')",
        "SELECT rag_delete_document('wiki:backfill')",
    ]);
    let mut refused_to_ingest = BACKFILL_CALLS.to_vec();
    refused_to_ingest.extend(BOOKKEEPING_WRITES);
    refused_to_ingest.push("SELECT rag_set_text_search_config('english')");
    assert_refused(&mut ingest, "ingest", &refused_to_ingest);

    // Operations: step, start, stop, resume, retry, recount, status.
    let mut ops = connect_dsn(&cluster.dsn_as(db, "ops"));
    fx.set_fault(Fault::Poison("Changed paragraph".into()));
    let r = ops.query_one("SELECT claimed, failed FROM rag_backfill_step(16)", &[]).unwrap();
    assert_eq!((r.get::<_, i32>(0), r.get::<_, i32>(1)), (1, 1), "ops embeds the retitled document's new chunk");
    fx.set_fault(Fault::None);
    let reset: i64 = ops.query_one("SELECT rag_backfill_retry_failed(NULL, true)", &[]).unwrap().get(0);
    assert_eq!(reset, 1);
    let started: bool = ops.query_one("SELECT started FROM rag_backfill_start('maintenance')", &[]).unwrap().get(0);
    assert!(started);
    assert!(wait_until(Duration::from_secs(60), || status(&mut ops).missing == 0));
    assert_allowed(&mut ops, "ops", &["SELECT * FROM rag_backfill_stop()", "TABLE rag_backfill_progress"]);
    wait_for_state(&mut ops, "stopped", Duration::from_secs(60));
    assert_allowed(&mut ops, "ops", &["SELECT * FROM rag_backfill_resume()", "SELECT * FROM rag_backfill_stop()"]);
    wait_for_state(&mut ops, "stopped", Duration::from_secs(60));
    assert_allowed(&mut ops, "ops", &["SELECT * FROM rag_backfill_recount()"]);
    let mut refused_to_ops = vec![
        "SELECT * FROM rag_upsert_document('ops:1', 'T', 'text')",
        "SELECT rag_delete_document('run:42')",
        "UPDATE rag_search.chunks SET embedding = NULL",
        "SELECT rag_set_text_search_config('english')",
        "SELECT * FROM rag_hybrid_search('hybrid search', 5, 'fts')",
    ];
    refused_to_ops.extend(BOOKKEEPING_WRITES);
    assert_refused(&mut ops, "ops", &refused_to_ops);
    let total: i64 = admin.query_one("SELECT count(*) FROM rag_search.chunks WHERE embedding IS NULL", &[]).unwrap().get(0);
    assert_eq!(total, 0);
    drop((app, ingest, ops));
    admin.batch_execute("DROP OWNED BY app, ingest, ops; DROP ROLE app, ingest, ops").unwrap();
}

/// A cluster of its own: roles belong to the whole cluster.
#[test]
fn create_extension_refuses_a_rag_search_admin_it_did_not_create() {
    let cluster = Cluster::start("admin_role", ClusterOptions::new());
    let mut admin = cluster.connect("postgres");
    for (setup, why) in [
        ("CREATE ROLE rag_search_admin LOGIN", "with LOGIN"),
        ("CREATE ROLE rag_search_admin NOLOGIN", "without rag_search's mark"),
        (
            "CREATE ROLE rag_search_admin NOLOGIN;
             COMMENT ON ROLE rag_search_admin IS 'rag_search: operators of the embedding backfill (created by CREATE EXTENSION rag_search)';
             ALTER ROLE rag_search_admin LOGIN",
            "with the mark but LOGIN",
        ),
    ] {
        admin.batch_execute(setup).unwrap();
        cluster.empty_database("refused");
        let mut c = cluster.connect("refused");
        let err = c.batch_execute("CREATE EXTENSION rag_search CASCADE").expect_err(why);
        let e = err.as_db_error().expect("database error");
        assert_eq!(e.code(), &SqlState::DUPLICATE_OBJECT, "{why}: {}", e.message());
        assert!(e.hint().is_some_and(|h| h.contains("Drop or rename")), "{why}: {:?}", e.hint());
        let left: i64 = c
            .query_one(
                "SELECT (SELECT count(*) FROM pg_extension WHERE extname IN ('rag_search', 'vector', 'pg_trgm'))
                      + (SELECT count(*) FROM pg_namespace WHERE nspname = 'rag_search')
                      + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'rag\\_%')",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "{why}: nothing half-created");
        drop(c);
        admin.batch_execute("DROP ROLE rag_search_admin").unwrap();
    }

    // Created by CREATE EXTENSION in one database, accepted in the next.
    let _first = cluster.new_database("first");
    let mut second = cluster.new_database("second");
    let (login, comment): (bool, String) = {
        let r = second
            .query_one(
                "SELECT rolcanlogin, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'rag_search_admin'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(!login);
    assert!(comment.starts_with("rag_search:"), "{comment}");
}
