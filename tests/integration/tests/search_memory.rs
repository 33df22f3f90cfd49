//! One search's memory stays bounded: the largest searches the default
//! limits allow, on a corpus far larger than that bound, raise the
//! backend's peak resident memory by less than the documented bound (the
//! text of 2 × top_k × (2 × window + 1) chunks, plus ids and scores of at
//! most rag_search.max_candidates candidates), with room for copies.
//! Requests above the limits fail with 22023.

use postgres::error::SqlState;
use rag_search_integration::{Client, Cluster, ClusterOptions};

/// Chunks of about 8,000 characters: large enough that holding every
/// candidate's text would show.
const CHUNK_CHARS: usize = 8_000;
const DOCUMENTS: usize = 1_000;
const CHUNKS_PER_DOCUMENT: usize = 6;
const DIM: usize = 8;

/// Peak resident memory (VmHWM) of a backend, in bytes.
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status of the backend");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// A paragraph of `chars` characters from a vocabulary of 3,000 words, so
/// that most query words are in many chunks.
fn text(seed: u64, chars: usize) -> String {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::with_capacity(chars + 16);
    while out.len() < chars {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let w = (s % 3000) * (s % 3000) / 3000;
        out.push_str(&format!("w{w} "));
    }
    out
}

fn load(c: &mut Client) {
    c.batch_execute(&format!(
        "SET rag_search.chunk_max_chars = {max}; SET rag_search.chunk_overlap_chars = 0;
         SELECT rag_set_embedding_model('memory-test', {DIM});",
        max = CHUNK_CHARS + 100
    ))
    .unwrap();
    for batch in 0..(DOCUMENTS / 100) {
        let docs: Vec<serde_json::Value> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                let content = (0..CHUNKS_PER_DOCUMENT)
                    .map(|p| text((n * 100 + p) as u64, CHUNK_CHARS))
                    .collect::<Vec<_>>()
                    .join("\n\n");
                serde_json::json!({"doc_id": format!("m:{n}"), "title": format!("document {n}"), "content": content})
            })
            .collect();
        let docs = serde_json::Value::Array(docs).to_string();
        c.execute("SELECT count(*) FROM rag_upsert_documents($1::text::jsonb)", &[&docs]).unwrap();
    }
    c.batch_execute(&format!(
        "UPDATE rag_search.chunks SET embedding_model = 'memory-test', embedding_dim = {DIM}, embedded_at = now(),
             embedding = (SELECT array_agg(sin(id * 7 + g))::real[] FROM generate_series(1, {DIM}) g)::vector;
         ANALYZE rag_search.chunks;"
    ))
    .unwrap();
}

#[test]
fn the_largest_allowed_searches_stay_within_the_memory_bound() {
    // Small shared buffers: touched shared memory counts in a backend's
    // resident size, so it is kept small next to the bound.
    let cluster = Cluster::start("memory", ClusterOptions::new().set("shared_buffers", "'16MB'"));
    let mut c = cluster.new_database("it_memory");
    load(&mut c);
    let corpus_text: i64 = c.query_one("SELECT sum(octet_length(content))::bigint FROM rag_search.chunks", &[]).unwrap().get(0);
    let chunks: i64 = c.query_one("SELECT count(*) FROM rag_search.chunks", &[]).unwrap().get(0);
    assert_eq!(chunks as usize, DOCUMENTS * CHUNKS_PER_DOCUMENT);
    let qvec = format!("[{}]", (0..DIM).map(|i| format!("{}", (i as f64 * 0.3).cos())).collect::<Vec<_>>().join(","));
    let query = "w1 w2 w3 w5 w8 w13 w21 w34 w55 w89 w144 w233 w377";

    // The largest requests the defaults allow: the deepest candidate lists
    // (10 results × oversample 1,000 = rag_search.max_candidates) read page
    // by page under the keyword rule; the most results; the most
    // neighbour text (95 results × 21 chunks).
    let worst = [
        ("10 results from 10,000 candidates, keyword rule", 10, r#"{"oversample": 1000, "require_all_keywords": true}"#, 10i64, true),
        ("1,000 results", 1000, r#"{}"#, 1000, false),
        ("95 results with window 10", 95, r#"{"window": 10}"#, 95 * 21, false),
    ];
    for (what, top_k, options, text_chunks, meaningful) in worst {
        let mut s = cluster.connect("it_memory");
        let pid: i32 = s.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        // Warm up: library, caches, plans.
        s.execute(
            &format!("SELECT count(*) FROM rag_hybrid_search('w1 w2', '{qvec}'::vector, 5, 'hybrid')"),
            &[],
        )
        .unwrap();
        let before = peak_rss(pid);
        let n: i64 = s
            .query_one(
                &format!(
                    "SELECT count(*) FROM rag_hybrid_search($1, '{qvec}'::vector, {top_k}, 'hybrid', NULL, $2::text::jsonb)"
                ),
                &[&query, &options],
            )
            .unwrap()
            .get(0);
        assert!(n > 0, "{what}: no rows");
        let grew = peak_rss(pid).saturating_sub(before);
        // The documented bound: the text of 2 × top_k × (2w + 1) chunks,
        // and ids and scores of the candidates. Allowed: 8 copies of that
        // text (SPI tuples, Rust strings, result tuples), plus 32 MB for
        // candidates, postings read and the shared buffers touched.
        let text_bytes = 2 * text_chunks as u64 * (CHUNK_CHARS as u64 + 200);
        let allowed = 8 * text_bytes + 32 * 1024 * 1024;
        eprintln!("{what}: peak memory +{} MB (bound {} MB, corpus text {} MB)", grew >> 20, allowed >> 20, corpus_text >> 20);
        assert!(
            grew < allowed,
            "{what}: peak memory grew by {} MB, more than the bound of {} MB",
            grew >> 20,
            allowed >> 20
        );
        if meaningful {
            // Holding the text of every candidate would not fit in the
            // bound: the check says something on this corpus.
            assert!(corpus_text as u64 > allowed, "{what}: corpus too small to test the bound");
        }
    }

    // Above the limits: 22023 with a hint, before any work.
    for (sql, what) in [
        (format!("SELECT * FROM rag_hybrid_search('w1', '{qvec}'::vector, 1000, 'hybrid', NULL, '{{\"oversample\": 1000}}')"), "candidates"),
        (format!("SELECT * FROM rag_hybrid_search('w1', '{qvec}'::vector, 1000, 'hybrid', NULL, '{{\"window\": 20}}')"), "context"),
    ] {
        let e = c.query(sql.as_str(), &[]).expect_err(what);
        assert_eq!(e.code(), Some(&SqlState::INVALID_PARAMETER_VALUE), "{what}");
        assert!(e.as_db_error().and_then(|d| d.hint()).is_some(), "{what}: a hint");
    }
}
