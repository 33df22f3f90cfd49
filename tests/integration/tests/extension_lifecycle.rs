//! CREATE EXTENSION ... CASCADE and DROP EXTENSION on a live cluster.

use rag_search_integration::shared_cluster;

#[test]
fn create_cascade_then_drop_removes_everything() {
    let cluster = shared_cluster();
    let mut c = cluster.new_database("it_lifecycle");
    let exts: Vec<String> = c
        .query("SELECT extname::text FROM pg_extension ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(exts, vec!["pg_trgm", "plpgsql", "rag_search", "vector"]);
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'rag_search'
             AND tablename IN ('documents', 'chunks', 'index_state', 'term_stats', 'query_embedding_cache',
                               'backfill_failures', 'backfill_state', 'chunk_counts')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 8);
    let funcs: i64 = c
        .query_one("SELECT count(*) FROM pg_proc WHERE proname LIKE 'rag\\_%'", &[])
        .unwrap()
        .get(0);
    assert!(funcs >= 5, "expected the rag_* API, found {funcs} functions");

    c.batch_execute("SELECT * FROM rag_upsert_document('a:1', 'T', 'some content')").unwrap();
    c.batch_execute("DROP EXTENSION rag_search").unwrap();
    let left: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'rag_search')
                  + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'rag\\_%')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "DROP EXTENSION must remove the schema and every function");
    // Roles belong to the cluster: the operator role stays for other databases.
    let role: i64 =
        c.query_one("SELECT count(*) FROM pg_roles WHERE rolname = 'rag_search_admin'", &[]).unwrap().get(0);
    assert_eq!(role, 1);
    // vector and pg_trgm stay: other objects may depend on them.
    c.batch_execute("CREATE EXTENSION rag_search").unwrap();
    c.batch_execute("DROP EXTENSION rag_search, vector, pg_trgm").unwrap();
}
