//! Ingestion as an application sees it: over a client connection, errors
//! with SQLSTATE and hint on the wire.

use rag_search_integration::shared_cluster;

#[test]
fn upsert_delete_roundtrip_over_client() {
    let mut c = shared_cluster().new_database("it_ingest");
    let row = c
        .query_one(
            "SELECT action, chunks FROM rag_upsert_document($1, $2, $3, $4::text::jsonb, $5)",
            &[&"board_post:12", &"게시판 글", &"탄핵을 의결했다.\n\n절차는 다음과 같다.", &r#"{"board": "free"}"#, &"board"],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "inserted");
    assert_eq!(row.get::<_, i32>(1), 1);
    let again: String = c
        .query_one(
            "SELECT action FROM rag_upsert_document($1, $2, $3, $4::text::jsonb, $5)",
            &[&"board_post:12", &"게시판 글", &"탄핵을 의결했다.\n\n절차는 다음과 같다.", &r#"{"board": "free"}"#, &"board"],
        )
        .unwrap()
        .get(0);
    assert_eq!(again, "unchanged");
    let by_key: i64 = c
        .query_one("SELECT count(*) FROM rag_search.documents WHERE metadata ? 'board'", &[])
        .unwrap()
        .get(0);
    assert_eq!(by_key, 1);
    assert!(c.query_one("SELECT rag_delete_document('board_post:12')", &[]).unwrap().get::<_, bool>(0));
}

#[test]
fn bad_input_reports_sqlstate_and_hint_on_the_wire() {
    let mut c = shared_cluster().new_database("it_errors");
    let cases: [(&str, &str); 4] = [
        ("SELECT * FROM rag_upsert_document(NULL, 't', 'c')", "22004"),
        ("SELECT * FROM rag_upsert_document('', 't', 'c')", "22023"),
        ("SELECT * FROM rag_upsert_document('x', 't', 'c', '[]')", "22023"),
        ("SELECT * FROM rag_upsert_documents('[{\"doc_id\": \"\"}]')", "22023"),
    ];
    for (sql, state) in cases {
        let err = c.batch_execute(sql).expect_err(sql);
        let db = err.as_db_error().expect("a database error");
        assert_eq!(db.code().code(), state, "{sql}: {}", db.message());
        assert!(db.hint().is_some_and(|h| !h.is_empty()), "{sql} has no hint");
    }
    // The session is still usable and nothing was written.
    let n: i64 = c.query_one("SELECT count(*) FROM rag_search.documents", &[]).unwrap().get(0);
    assert_eq!(n, 0);
}

#[test]
fn ten_megabyte_document_and_bulk_path() {
    let mut c = shared_cluster().new_database("it_bulk");
    let big = "가나다라 마바사 아자차카 타파하. The quick brown fox jumps. ".repeat(10 * 1024 * 1024 / 70 + 1);
    assert!(big.len() >= 10 * 1024 * 1024);
    let chunks: i32 = c
        .query_one("SELECT chunks FROM rag_upsert_document('big:1', 'big', $1)", &[&big])
        .unwrap()
        .get(0);
    assert!(chunks > 5000);
    let docs: Vec<serde_json::Value> = (0..500)
        .map(|i| serde_json::json!({"doc_id": format!("run:{i}"), "title": format!("Run {i}"), "content": format!("evaluation run {i} scored well"), "metadata": {"kind": "run"}}))
        .collect();
    let payload = serde_json::Value::Array(docs).to_string();
    let inserted: i64 = c
        .query_one(
            "SELECT count(*) FILTER (WHERE action = 'inserted') FROM rag_upsert_documents($1::text::jsonb)",
            &[&payload],
        )
        .unwrap()
        .get(0);
    assert_eq!(inserted, 500);
    let unchanged: i64 = c
        .query_one(
            "SELECT count(*) FILTER (WHERE action = 'unchanged') FROM rag_upsert_documents($1::text::jsonb)",
            &[&payload],
        )
        .unwrap()
        .get(0);
    assert_eq!(unchanged, 500);
}
