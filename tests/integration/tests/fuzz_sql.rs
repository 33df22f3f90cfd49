//! The fast seeded subset of the SQL fuzzer (the long run is
//! `bench/fuzz.sh`): generated calls of every rag_* function with hostile
//! arguments against a live cluster. No input may crash the server, end in
//! `XX000`, raise a SQLSTATE docs/errors.md does not list, or raise an
//! extension error without a hint; NUL characters are refused; result rows
//! are well formed.

use rag_search_integration::backfill::{point_at, start_small_fixture, SMALL_DIM};
use rag_search_integration::fuzz::{self, Run};
use rag_search_integration::shared_cluster;

/// Fixed, so that a failure reproduces; `RAG_FUZZ_SEED` / `RAG_FUZZ_INPUTS`
/// override them for a local run.
const SEED: u64 = 20_250_611;
const INPUTS: usize = 1_500;
/// Longest generated text, in characters (debug builds ingest it).
const MAX_TEXT: usize = 30_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn generated_calls_never_crash_and_fail_only_with_documented_errors() {
    let fx = start_small_fixture();
    let cluster = shared_cluster();
    let db = "it_fuzz";
    let mut admin = cluster.new_database(db);
    point_at(&mut admin, db, &fx);
    let mut c = cluster.connect(db);
    fuzz::seed_corpus(&mut c, SMALL_DIM);
    drop(c);
    let dsn = cluster.dsn(db);
    let run = Run {
        dsn: &dsn,
        seed: env_or("RAG_FUZZ_SEED", SEED),
        inputs: env_or("RAG_FUZZ_INPUTS", INPUTS),
        max_text: MAX_TEXT,
        fixture_url: &fx.url(),
        dimension: SMALL_DIM,
        progress: None,
    };
    let (report, _client) = run.execute();
    eprintln!("{}", report.markdown());
    assert!(report.passed(), "{} findings:\n{}", report.findings.len(), report.findings_summary());
    let log = cluster.server_log();
    let crashes = fuzz::crash_log_lines(&log);
    assert!(crashes.is_empty(), "the server log reports crashed backends:\n{}", crashes.join("\n"));
}
