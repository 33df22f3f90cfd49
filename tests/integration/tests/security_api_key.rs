//! rag_search.embedding_api_key: refused wherever a catalog would keep it
//! readable, set with ALTER SYSTEM on a cluster of its own, sent to the
//! embedding server as a bearer token, and unreadable for other roles
//! through every settings view, the catalogs and error messages. The
//! cluster preloads rag_search, as the README advises, so that even a
//! session that has not used rag_search yet knows the setting and refuses
//! to store it in a catalog.

use fixture_embedder::{Fault, FixtureConfig, FixtureServer};
use postgres::error::SqlState;
use rag_search_integration::backfill::{set_db, step_until_idle, SMALL_DIM as DIM, SMALL_NATIVE_DIM};
use rag_search_integration::samples::load_samples;
use rag_search_integration::{connect_dsn, Client, Cluster, ClusterOptions};

const KEY: &str = "sk-test-4f1d9c0e7b2a";

fn assert_refused_with_hint(c: &mut Client, sql: &str) {
    let err = c.batch_execute(sql).expect_err(sql);
    let e = err.as_db_error().unwrap_or_else(|| panic!("{sql}: {err}"));
    assert_eq!(e.code(), &SqlState::INSUFFICIENT_PRIVILEGE, "{sql}: {}", e.message());
    assert!(e.hint().is_some_and(|h| h.contains("ALTER SYSTEM")), "{sql}: {:?}", e.hint());
    assert!(!e.message().contains(KEY) && !e.hint().unwrap_or("").contains(KEY));
}

/// Every text a role can get back from `sql`: its rows as text, or its
/// error's message, detail and hint.
fn everything_seen(c: &mut Client, sql: &str) -> String {
    match c.simple_query(sql) {
        Ok(messages) => messages
            .iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).unwrap_or("").to_string()).collect::<Vec<_>>().join("|"))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => match e.as_db_error() {
            Some(d) => format!("{} {} {}", d.message(), d.detail().unwrap_or(""), d.hint().unwrap_or("")),
            None => e.to_string(),
        },
    }
}

#[test]
fn the_api_key_is_set_with_alter_system_sent_as_a_bearer_token_and_never_shown_to_other_roles() {
    let fx = FixtureServer::start(FixtureConfig {
        native_dim: SMALL_NATIVE_DIM,
        dim: DIM,
        api_key: Some(KEY.to_string()),
        ..FixtureConfig::default()
    })
    .expect("start fixture embedder");
    let cluster = Cluster::start("api_key", ClusterOptions::new().preload());
    let db = "keyed";
    let mut su = cluster.new_database(db);
    su.batch_execute(
        "CREATE ROLE app LOGIN;
         GRANT USAGE ON SCHEMA rag_search TO app;
         GRANT SELECT ON rag_search.documents, rag_search.chunks TO app;",
    )
    .unwrap();

    // Refused where every role could read it back, also in a new session
    // that has called nothing of rag_search.
    let mut su = cluster.connect(db);
    for sql in [
        format!("ALTER DATABASE {db} SET rag_search.embedding_api_key = '{KEY}'"),
        format!("ALTER ROLE app SET rag_search.embedding_api_key = '{KEY}'"),
        format!("ALTER ROLE app IN DATABASE {db} SET rag_search.embedding_api_key = '{KEY}'"),
        format!("ALTER ROLE ALL SET rag_search.embedding_api_key = '{KEY}'"),
        format!(
            "CREATE FUNCTION public.with_key() RETURNS int LANGUAGE sql
             SET rag_search.embedding_api_key = '{KEY}' AS 'SELECT 1'"
        ),
    ] {
        assert_refused_with_hint(&mut su, &sql);
    }

    // ALTER SYSTEM and a reload: every new session uses it.
    su.batch_execute(&format!("ALTER SYSTEM SET rag_search.embedding_api_key = '{KEY}'")).unwrap();
    su.batch_execute("SELECT pg_reload_conf()").unwrap();
    set_db(&mut su, db, &[
        ("rag_search.embedding_url", &format!("'{}'", fx.url())),
        ("rag_search.embedding_provider", "'openai'"),
        ("rag_search.query_template", "'{text}'"),
    ]);
    let mut su = cluster.connect(db);
    let shown: String = su.query_one("SHOW rag_search.embedding_api_key", &[]).unwrap().get(0);
    assert_eq!(shown, KEY, "a superuser sees it");
    su.batch_execute(&format!("SELECT * FROM rag_set_embedding_model('m', {DIM})")).unwrap();
    let chunks = load_samples(&mut su, 6);
    assert_eq!(step_until_idle(&mut su, 64), (chunks, 0), "the fixture accepts only requests with the key");

    let mut app = connect_dsn(&cluster.dsn_as(db, "app"));
    let before = fx.requests();
    let rows = app.query("SELECT chunk_id FROM rag_hybrid_search('hybrid search', 3, 'vector')", &[]).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(fx.requests(), before + 1);
    assert_eq!(fx.last_authorization(), Some(format!("Bearer {KEY}")), "the search sent the key");

    // Nothing shows it to a role that is not a superuser.
    for sql in [
        "SHOW rag_search.embedding_api_key",
        "SELECT current_setting('rag_search.embedding_api_key')",
        "SELECT current_setting('rag_search.embedding_api_key', true)",
        "SHOW ALL",
        "SELECT * FROM pg_settings",
        "SELECT * FROM pg_file_settings",
        "SELECT * FROM pg_show_all_file_settings()",
        "SELECT * FROM pg_db_role_setting",
        "SELECT proname, proconfig FROM pg_proc WHERE proconfig IS NOT NULL",
        "SELECT * FROM rag_backfill_status()",
    ] {
        let seen = everything_seen(&mut app, sql);
        assert!(!seen.contains(KEY), "{sql} shows the key to app: {seen}");
    }
    for sql in ["SHOW rag_search.embedding_api_key", "SELECT current_setting('rag_search.embedding_api_key')"] {
        let err = app.batch_execute(sql).expect_err(sql);
        assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{sql}");
    }

    // Failing requests: the errors name the model and URL, not the key.
    for fault in [Fault::Http500, Fault::MalformedJson] {
        fx.set_fault(fault.clone());
        let seen = everything_seen(&mut app, "SELECT * FROM rag_hybrid_search('a question never asked', 3, 'vector')");
        assert!(seen.contains("embedding request failed"), "{fault:?}: {seen}");
        assert!(!seen.contains(KEY), "{fault:?}: {seen}");
        su.batch_execute("SELECT * FROM rag_upsert_document('new:1', 'New', 'A chunk the server fails on.')").unwrap();
        su.batch_execute("SELECT * FROM rag_backfill_step(8)").unwrap();
        let seen = everything_seen(&mut app, "SELECT last_error FROM rag_backfill_status()");
        assert!(!seen.contains(KEY), "{fault:?}: {seen}");
        su.batch_execute("SELECT rag_delete_document('new:1'); UPDATE rag_search.backfill_state SET backoff_until = NULL").unwrap();
    }
    fx.set_fault(Fault::None);
    let seen = everything_seen(&mut app, "SELECT * FROM rag_search.backfill_failures");
    assert!(!seen.contains(KEY), "{seen}");
    // The server log (readable by superusers only) has the key where
    // PostgreSQL itself writes it: the text of the refused statements above
    // and "parameter ... changed to ..." on reload. Nothing else.
    let log = cluster.server_log();
    let lines: Vec<&str> =
        log.lines().filter(|l| l.contains(KEY) && !l.contains("rag_search.embedding_api_key")).collect();
    assert!(lines.is_empty(), "the server log shows the key: {lines:#?}");
}
