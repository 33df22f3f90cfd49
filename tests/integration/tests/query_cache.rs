//! The query-embedding cache cannot be poisoned, read or grown without
//! bound: an entry written under one session's settings is never served to
//! a session that would have sent another text; no ordinary role has any
//! privilege on the cache; short connections cannot grow it past its
//! limit; two roles asking the same question get an entry each.

use fixture_embedder::FixtureServer;
use postgres::error::SqlState;
use rag_search_integration::samples::embedded_samples_database;
use rag_search_integration::{connect_dsn, shared_cluster, Client};

/// A database with 20 sample documents embedded by the fixture, every
/// session pointed at the fixture.
fn setup(db: &str) -> (Client, FixtureServer) {
    embedded_samples_database(db, 20)
}

fn cache_rows(c: &mut Client) -> i64 {
    c.query_one("SELECT count(*) FROM rag_search.query_embedding_cache", &[]).unwrap().get(0)
}

/// Chunk ids of the top 5 of a vector search.
fn top5(c: &mut Client, q: &str) -> Vec<i64> {
    c.query("SELECT chunk_id FROM rag_hybrid_search($1, 5, 'vector')", &[&q])
        .expect("vector search")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A role that may search (the README's search grants).
fn create_search_role(c: &mut Client, role: &str) {
    c.batch_execute(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
         GRANT USAGE ON SCHEMA rag_search TO {role};
         GRANT SELECT ON rag_search.documents, rag_search.chunks TO {role};"
    ))
    .unwrap();
}

#[test]
fn a_truncated_query_cached_by_one_session_is_not_served_to_another() {
    let db = "it_cache_poison";
    let (mut admin, fx) = setup(db);
    let cluster = shared_cluster();
    let q = "how does the backfill embed chunks whose embedding is missing";

    // Session A (superuser) embeds only the first 20 characters.
    let mut a = cluster.connect(db);
    a.batch_execute("SET rag_search.embedding_max_chars = 20").unwrap();
    let top_a = top5(&mut a, q);
    assert_eq!(fx.last_inputs(), vec![q.chars().take(20).collect::<String>()]);
    assert_eq!(cache_rows(&mut admin), 1);

    // Session B (defaults): its own request and entry.
    let mut b = cluster.connect(db);
    let before = fx.requests();
    let top_b = top5(&mut b, q);
    assert_eq!(fx.requests(), before + 1, "B was not served A's entry");
    assert_eq!(fx.last_inputs(), vec![q.to_string()]);
    assert_eq!(cache_rows(&mut admin), 2);

    // The reference: the same search without any cache.
    let mut reference = cluster.connect(db);
    reference.batch_execute("SET rag_search.query_cache_max_entries = 0").unwrap();
    let top_ref = top5(&mut reference, q);
    assert_eq!(top_b, top_ref);
    assert_ne!(top_a, top_ref, "the truncated query ranks differently, so a shared entry would show");
    assert_eq!(top5(&mut b, q), top_ref, "B's cached answer");
}

#[test]
fn ordinary_roles_have_no_privilege_on_the_cache() {
    let db = "it_cache_privileges";
    let (mut admin, _fx) = setup(db);
    let role = "it_cache_reader";
    create_search_role(&mut admin, role);
    let mut c = connect_dsn(&shared_cluster().dsn_as(db, role));
    top5(&mut c, "hybrid search");
    for sql in [
        "SELECT * FROM rag_search.query_embedding_cache",
        "INSERT INTO rag_search.query_embedding_cache (key, embedding) VALUES ('\\x00', '{1}')",
        "UPDATE rag_search.query_embedding_cache SET embedding = '{1}'",
        "DELETE FROM rag_search.query_embedding_cache",
        "TRUNCATE rag_search.query_embedding_cache",
        "SELECT nextval('rag_search.query_embedding_cache_inserts')",
    ] {
        let err = c.batch_execute(sql).expect_err(sql);
        assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{sql}: {err}");
    }
    assert_eq!(cache_rows(&mut admin), 1, "the role's search was cached all the same");
}

#[test]
fn many_short_connections_keep_the_cache_bounded() {
    let db = "it_cache_bounded";
    let (mut admin, fx) = setup(db);
    let limit = 50;
    admin.batch_execute(&format!("ALTER DATABASE {db} SET rag_search.query_cache_max_entries = {limit}")).unwrap();
    let dsn = shared_cluster().dsn(db);
    fx.reset_counts();
    for i in 0..300 {
        let mut c = connect_dsn(&dsn);
        top5(&mut c, &format!("question number {i} about hybrid search"));
    }
    assert_eq!(fx.requests(), 300, "every query was new");
    let rows = cache_rows(&mut admin);
    assert!((limit..=limit + 64).contains(&rows), "{rows} cache rows with a limit of {limit}");
}

#[test]
fn two_roles_asking_the_same_question_get_an_entry_each() {
    let db = "it_cache_roles";
    let (mut admin, fx) = setup(db);
    let q = "헌법재판소 탄핵 심판 절차";
    for (i, role) in ["it_cache_alice", "it_cache_bob"].iter().enumerate() {
        create_search_role(&mut admin, role);
        let mut c = connect_dsn(&shared_cluster().dsn_as(db, role));
        let before = fx.requests();
        top5(&mut c, q);
        top5(&mut c, q);
        assert_eq!(fx.requests(), before + 1, "{role}: one request, then its own entry");
        assert_eq!(cache_rows(&mut admin), i as i64 + 1, "{role}");
    }
}
