//! Tenant isolation with row-level security: the policies of README.md's
//! "Tenant isolation" recipe (run as written there) on documents and
//! chunks, two tenants whose texts share their vocabulary, and a search
//! role that is not the tables' owner. Every search mode (with a filter,
//! fusion options, neighbour windows and the keyword option) and
//! rag_candidate_pages return only the caller's rows, no result column
//! holds any text of the other tenant, the windows are exactly the caller's
//! neighbouring chunks, and each tenant gets exactly the results a
//! superuser gets by filtering on the tenant. A tenant's loader writes and
//! deletes only its own documents.

use std::collections::HashMap;

use fixture_embedder::expected_vector;
use pgvector::Vector;
use rag_search_integration::backfill::{point_at, start_small_fixture, step_until_idle, SMALL_DIM, SMALL_NATIVE_DIM};
use rag_search_integration::{connect_dsn, readme_recipe, shared_cluster, Client};
use serde_json::{json, Value};

const DB: &str = "it_tenants";
const TENANTS: [&str; 2] = ["alpha", "bravo"];
const CHUNKING: &str = "SET rag_search.chunk_max_chars = 100; SET rag_search.chunk_overlap_chars = 20";

/// Words every tenant writes (English and Korean, with particles).
const SHARED_WORDS: [&str; 24] = [
    "impeachment", "procedure", "court", "ruling", "budget", "hybrid", "search", "vector", "index", "backfill",
    "embedding", "model", "contract", "invoice", "policy", "archive", "탄핵을", "절차는", "헌법재판소", "심판",
    "예산안", "국회가", "계약서", "정책을",
];

/// A word only `tenant` writes: in every paragraph and title of its
/// documents, so any text of one tenant in another's results shows.
fn marker(tenant: &str) -> String {
    format!("{tenant}mark")
}

/// Searches: shared words, Korean, titles, and each tenant's own marker.
const QUERIES: [&str; 6] =
    ["impeachment procedure court", "탄핵 절차 헌법재판소", "hybrid search vector index", "budget contract 4", "alphamark court", "bravomark"];

/// Options of the searches: fusion, windows, the keyword check.
const OPTIONS: [Option<&str>; 5] = [
    None,
    Some(r#"{"fusion": "rrf"}"#),
    Some(r#"{"window": 1}"#),
    Some(r#"{"window": 2, "require_all_keywords": true}"#),
    Some(r#"{"require_all_keywords": true, "oversample": 40}"#),
];

/// Deterministic documents of `tenant`, numbered `from..from + n`: three
/// paragraphs of shared words with the tenant's marker, one chunk each.
fn documents(tenant: &str, from: usize, n: usize) -> Vec<Value> {
    let mark = marker(tenant);
    let mut state = (from as u64 + 1) * if tenant == "alpha" { 7919 } else { 104_729 };
    let mut word = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        SHARED_WORDS[(state >> 33) as usize % SHARED_WORDS.len()]
    };
    (from..from + n)
        .map(|i| {
            let paragraphs: Vec<String> = (0..3)
                .map(|_| format!("{mark} {} {} {} {mark} {} {} {}.", word(), word(), word(), word(), word(), word()))
                .collect();
            json!({
                "doc_id": format!("{tenant}:{i}"),
                "title": format!("{mark} {} {} {i}", word(), word()),
                "content": paragraphs.join("\n\n"),
                "metadata": {"tenant": tenant, "n": i},
            })
        })
        .collect()
}

fn upsert(c: &mut Client, docs: &[Value]) {
    c.batch_execute(CHUNKING).unwrap();
    let payload = Value::Array(docs.to_vec()).to_string();
    c.query("SELECT * FROM rag_upsert_documents($1::text::jsonb)", &[&payload]).expect("rag_upsert_documents");
}

/// One result row of rag_hybrid_search.
#[derive(Debug, PartialEq)]
struct Hit {
    chunk_id: i64,
    doc_id: String,
    title: String,
    content: String,
    scores: String,
    context: Option<String>,
}

fn hits(c: &mut Client, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Vec<Hit> {
    c.query(sql, params)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| Hit {
            chunk_id: r.get("chunk_id"),
            doc_id: r.get("doc_id"),
            title: r.get("title"),
            content: r.get("content"),
            scores: format!(
                "{:.9} {:?} {:?} {:?} {:?} {}",
                r.get::<_, f64>("score"),
                r.get::<_, Option<f64>>("vector_score").map(|x| format!("{x:.9}")),
                r.get::<_, Option<f64>>("fts_score").map(|x| format!("{x:.9}")),
                r.get::<_, Option<f64>>("title_score").map(|x| format!("{x:.9}")),
                r.get::<_, Option<f64>>("lexical_score").map(|x| format!("{x:.9}")),
                r.get::<_, String>("mode")
            ),
            context: r.get("context"),
        })
        .collect()
}

/// A search of `q` in `mode` with `options` (and `filter`): by the query
/// text, or with the query's vector given.
fn search(c: &mut Client, q: &str, mode: &str, options: Option<&str>, filter: Option<&str>, with_vector: bool) -> Vec<Hit> {
    if with_vector {
        let v = Vector::from(expected_vector(q, SMALL_NATIVE_DIM, SMALL_DIM));
        hits(
            c,
            "SELECT * FROM rag_hybrid_search($1, $2, 8, $3, $4::text::jsonb, $5::text::jsonb)",
            &[&q, &v, &mode, &filter, &options],
        )
    } else {
        hits(c, "SELECT * FROM rag_hybrid_search($1, 8, $2, $3::text::jsonb, $4::text::jsonb)", &[&q, &mode, &filter, &options])
    }
}

/// What the superuser knows of every chunk: its tenant and, for a window
/// of `w` chunks, the context text a search must return.
struct Truth {
    tenant_of: HashMap<i64, String>,
}

impl Truth {
    fn read(su: &mut Client) -> Truth {
        let tenant_of = su
            .query(
                "SELECT c.id, d.metadata->>'tenant' FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Truth { tenant_of }
    }

    fn window(su: &mut Client, chunk_id: i64, w: i32) -> String {
        su.query_one(
            "SELECT string_agg(n.content, E'\\n' ORDER BY n.ordinal)
             FROM rag_search.chunks c
             JOIN rag_search.chunks n ON n.document_id = c.document_id AND n.ordinal BETWEEN c.ordinal - $2 AND c.ordinal + $2
             WHERE c.id = $1",
            &[&chunk_id, &w],
        )
        .unwrap()
        .get(0)
    }
}

/// Asserts that every row of `found` is `tenant`'s and shows nothing of the
/// other tenant; windows are checked against the superuser's reading.
fn assert_own_rows(su: &mut Client, truth: &Truth, tenant: &str, what: &str, found: &[Hit], window: i32) {
    let other = TENANTS.iter().find(|t| **t != tenant).expect("two tenants");
    let (other_mark, other_prefix) = (marker(other), format!("{other}:"));
    for h in found {
        assert_eq!(truth.tenant_of.get(&h.chunk_id).map(String::as_str), Some(tenant), "{what}: chunk {}", h.chunk_id);
        assert!(h.doc_id.starts_with(&format!("{tenant}:")), "{what}: {}", h.doc_id);
        for text in [&h.doc_id, &h.title, &h.content].into_iter().chain(h.context.as_ref()) {
            assert!(!text.contains(&other_mark) && !text.contains(&other_prefix), "{what}: {other}'s text in {text:?}");
        }
        if window > 0 {
            assert_eq!(h.context.as_deref(), Some(Truth::window(su, h.chunk_id, window).as_str()), "{what}: window");
        }
    }
}

fn window_of(options: Option<&str>) -> i32 {
    options
        .and_then(|o| serde_json::from_str::<Value>(o).ok())
        .and_then(|o| o.get("window").and_then(Value::as_i64))
        .unwrap_or(0) as i32
}

#[test]
fn row_level_security_keeps_every_search_within_the_tenant() {
    let fx = start_small_fixture();
    let cluster = shared_cluster();
    let mut su = cluster.new_database(DB);
    point_at(&mut su, DB, &fx);
    let mut su = cluster.connect(DB);
    su.batch_execute(&format!("SELECT * FROM rag_set_embedding_model('m', {SMALL_DIM})")).unwrap();
    for tenant in TENANTS {
        upsert(&mut su, &documents(tenant, 1, 120));
    }
    // Everything merged into postings, then a few chunks left pending.
    su.batch_execute("SELECT rag_search.postings_merge()").unwrap();
    for tenant in TENANTS {
        upsert(&mut su, &documents(tenant, 121, 6));
    }
    step_until_idle(&mut su, 64);
    let pending: i64 = su.query_one("SELECT count(*) FROM rag_search.postings_pending", &[]).unwrap().get(0);
    let indexed: i64 = su.query_one("SELECT count(DISTINCT lexeme) FROM rag_search.postings", &[]).unwrap().get(0);
    assert!(pending > 0 && indexed >= SHARED_WORDS.len() as i64, "pending {pending}, indexed lexemes {indexed}");

    su.batch_execute(&readme_recipe("Tenant isolation")).expect("the README's tenant isolation recipe");
    su.batch_execute(
        "DROP ROLE IF EXISTS tenant_app; CREATE ROLE tenant_app LOGIN;
         GRANT USAGE ON SCHEMA rag_search TO tenant_app;
         GRANT SELECT ON rag_search.documents, rag_search.chunks TO tenant_app;
         DROP ROLE IF EXISTS tenant_loader; CREATE ROLE tenant_loader LOGIN;
         GRANT USAGE ON SCHEMA rag_search TO tenant_loader;
         GRANT SELECT, INSERT, UPDATE, DELETE ON rag_search.documents, rag_search.chunks TO tenant_loader;",
    )
    .unwrap();
    let truth = Truth::read(&mut su);

    for tenant in TENANTS {
        let mut app = connect_dsn(&cluster.dsn_as(DB, "tenant_app"));
        app.batch_execute(&format!("SET app.tenant = '{tenant}'")).unwrap();
        let tenant_filter = json!({"tenant": tenant}).to_string();
        for q in QUERIES {
            for mode in ["auto", "hybrid", "fts", "vector", "lexical"] {
                for options in OPTIONS {
                    let window = window_of(options);
                    for with_vector in [false, true] {
                        if with_vector && mode == "auto" {
                            continue;
                        }
                        let what = format!("{tenant}: {q} / {mode} / {options:?} / vector given {with_vector}");
                        let found = search(&mut app, q, mode, options, None, with_vector);
                        assert_own_rows(&mut su, &truth, tenant, &what, &found, window);
                        // Exactly what filtering on the tenant gives the superuser.
                        let filtered = search(&mut su, q, mode, options, Some(&tenant_filter), with_vector);
                        assert_eq!(found, filtered, "{what}: the policy and the tenant filter differ");
                        // And a filter within the tenant stays within it.
                        let narrowed = search(&mut app, q, mode, options, Some(r#"{"n": 3}"#), with_vector);
                        assert_own_rows(&mut su, &truth, tenant, &format!("{what} / filter"), &narrowed, window);
                    }
                }
            }
            let pages = app
                .query("SELECT doc_id, title, best_chunk_id FROM rag_candidate_pages($1, 10)", &[&q])
                .unwrap_or_else(|e| panic!("{tenant}: pages of {q}: {e}"));
            for p in &pages {
                let (doc_id, title, best): (String, String, Option<i64>) = (p.get(0), p.get(1), p.get(2));
                assert!(doc_id.starts_with(&format!("{tenant}:")) && title.contains(&marker(tenant)), "{tenant}: page {doc_id}");
                if let Some(best) = best {
                    assert_eq!(truth.tenant_of.get(&best).map(String::as_str), Some(tenant), "{tenant}: page {doc_id}");
                }
            }
        }
        // The shared words find the tenant's own documents in full pages.
        let own = search(&mut app, "impeachment procedure court", "fts", None, None, false);
        assert_eq!(own.len(), 8, "{tenant}: a full page of its own chunks");
        // The other tenant's marker finds nothing by its words.
        let other = TENANTS.iter().find(|t| **t != tenant).expect("two tenants");
        assert!(search(&mut app, &marker(other), "fts", None, None, false).is_empty());
        let counted: i64 = app.query_one("SELECT documents FROM rag_stats()", &[]).unwrap().get(0);
        assert_eq!(counted, 126, "{tenant}: rag_stats() counts the rows the caller sees");
    }

    // A tenant's loader writes and deletes only its own documents.
    let mut loader = connect_dsn(&cluster.dsn_as(DB, "tenant_loader"));
    loader.batch_execute("SET app.tenant = 'alpha'").unwrap();
    upsert(&mut loader, &documents("alpha", 500, 1));
    let deleted: bool = loader.query_one("SELECT rag_delete_document('bravo:1')", &[]).unwrap().get(0);
    assert!(!deleted, "alpha's loader cannot see bravo:1");
    let refused = loader
        .query("SELECT * FROM rag_upsert_document('alpha:x', 't', 'c', '{\"tenant\": \"bravo\"}')", &[])
        .expect_err("a document of another tenant");
    assert_eq!(refused.code(), Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE), "{refused}");
    let counts: (i64, i64) = {
        let r = su
            .query_one(
                "SELECT count(*) FILTER (WHERE doc_id = 'alpha:500'), count(*) FILTER (WHERE doc_id = 'bravo:1')
                 FROM rag_search.documents",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(counts, (1, 1));
    drop(loader);
    su.batch_execute("DROP OWNED BY tenant_app, tenant_loader; DROP ROLE tenant_app; DROP ROLE tenant_loader").unwrap();
}
