//! Search throughput of a primary and of its hot standby: concurrent
//! clients run real questions (SciFact test claims and the Korean dev
//! questions, with their precomputed multilingual-e5-small vectors) in
//! every search mode and rag_candidate_pages against the primary, against
//! the standby, and against both at once; searches per second and latency
//! percentiles of each.
//!
//! Run through bench/replica_throughput.sh, which builds and installs the
//! extension (release build), starts the primary and makes the standby
//! with pg_basebackup -R.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pgvector::Vector;
use postgres::Client;
use rag_search_bench::beir::{self, judged_queries, read_jsonl, read_vectors, str_field, Query};
use rag_search_bench::db::{update_embeddings, upsert_documents};
use rag_search_bench::{connect, fresh_database, load_average, machine_markdown, percentile, replace_section, Args, Result};
use serde_json::{json, Value};

const MODEL: &str = "multilingual-e5-small-q4";
const DIM: usize = beir::E5_DIM;
const DATABASE: &str = "rag_replica";
const TOP_K: i32 = 10;
/// Documents per rag_upsert_documents call and rows per embedding UPDATE.
const BATCH: usize = 250;
const HEADING: &str = "## Search throughput on a primary and a hot standby";

/// A BEIR dataset of ../shared: corpus, judged queries and their vectors.
struct Dataset {
    title: &'static str,
    dir: &'static str,
    qrels: &'static str,
    corpus_vectors: &'static str,
    query_vectors: &'static str,
    prefix: &'static str,
}

const DATASETS: [Dataset; 2] = [
    Dataset {
        title: "SciFact abstracts",
        dir: "datasets/scifact",
        qrels: "qrels/test.tsv",
        corpus_vectors: "scifact-corpus",
        query_vectors: "scifact-test-queries",
        prefix: "scifact:",
    },
    Dataset {
        title: "Korean dev pages",
        dir: "datasets/autorag-ko-dev",
        qrels: "qrels/dev.tsv",
        corpus_vectors: "autorag-ko-corpus",
        query_vectors: "autorag-ko-dev-queries",
        prefix: "ko:",
    },
];

/// What the clients run, in turn: (label, mode, options); no mode means
/// rag_candidate_pages. The query vector is given (no embedding server).
const VARIANTS: [(&str, Option<&str>, Option<&str>); 6] = [
    ("hybrid (weighted)", Some("hybrid"), None),
    ("hybrid (RRF)", Some("hybrid"), Some(r#"{"fusion": "rrf"}"#)),
    ("fts", Some("fts"), None),
    ("vector", Some("vector"), None),
    ("lexical", Some("lexical"), None),
    ("rag_candidate_pages", None, None),
];

fn main() -> Result<()> {
    let args = Args::parse();
    let (primary, standby) = (args.get("primary"), args.get("standby"));
    let clients: usize = args.get("clients").parse()?;
    let seconds: f64 = args.get("seconds").parse()?;
    let warmup: f64 = args.get("warmup-seconds").parse()?;
    let shared = PathBuf::from(args.get("shared"));
    let load_at_start = load_average();

    let t = Instant::now();
    let corpus = load(primary, &shared)?;
    println!("[load] {corpus} in {:.0} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    wait_for_replay(primary, standby)?;
    println!("[replication] the standby replayed the load {:.1} s after it finished", t.elapsed().as_secs_f64());
    let queries = Arc::new(load_queries(&shared)?);

    let mut runs = Vec::new();
    for (label, servers) in [("primary", vec![primary]), ("standby", vec![standby]), ("primary + standby", vec![primary, standby])] {
        run_clients(&servers, clients, warmup, &queries)?;
        let run = run_clients(&servers, clients, seconds, &queries)?;
        println!(
            "{label:<18} {:>3} clients  {:>7.1} searches/s  p50 {:>6.1} ms  p95 {:>6.1} ms  errors {}",
            clients * servers.len(),
            run.per_second(),
            run.percentile(None, 50.0),
            run.percentile(None, 95.0),
            run.errors
        );
        if let Some(e) = &run.first_error {
            println!("  first error: {e}");
        }
        runs.push((label, servers.len(), run));
    }
    let mut check = connect(standby, DATABASE)?;
    let still_standby: bool = check.query_one("SELECT pg_is_in_recovery()", &[])?.get(0);
    if !still_standby {
        return Err("the standby left recovery during the run".into());
    }

    let body = report(&args, &corpus, queries.len(), clients, seconds, warmup, &runs, &load_at_start);
    replace_section(Path::new(args.get("report")), HEADING, &body)?;
    println!("wrote the \"{}\" section of {}", HEADING.trim_start_matches("## "), args.get("report"));
    Ok(())
}

/// Loads both corpora, one chunk per document, with their real vectors,
/// into a fresh database on the primary; returns a description.
fn load(dsn: &str, shared: &Path) -> Result<String> {
    let mut c = fresh_database(dsn, DATABASE)?;
    c.batch_execute(
        "CREATE EXTENSION rag_search CASCADE;
         SET rag_search.chunk_max_chars = 100000; SET rag_search.chunk_overlap_chars = 0;",
    )?;
    c.execute("SELECT rag_set_embedding_model($1, $2)", &[&MODEL, &(DIM as i32)])?;
    let emb = shared.join("embeddings/me5-small-q4");
    let mut parts = Vec::new();
    for ds in &DATASETS {
        let corpus = read_jsonl(&shared.join(ds.dir).join("corpus.jsonl"))?;
        for batch in corpus.chunks(BATCH) {
            let docs: Vec<Value> = batch
                .iter()
                .map(|d| {
                    json!({"doc_id": format!("{}{}", ds.prefix, str_field(d, "_id")), "title": str_field(d, "title"),
                           "content": str_field(d, "text"), "metadata": {"corpus": ds.prefix.trim_end_matches(':')}})
                })
                .collect();
            upsert_documents(&mut c, docs)?;
        }
        parts.push(format!("{} {}", corpus.len(), ds.title));
        let chunk_of: HashMap<String, i64> = c
            .query(
                "SELECT d.doc_id, c.id FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id
                 WHERE starts_with(d.doc_id, $1)",
                &[&ds.prefix],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let vectors = read_vectors(&emb, ds.corpus_vectors)?;
        for batch in vectors.chunks(BATCH) {
            let mut ids = Vec::with_capacity(batch.len());
            let mut vecs: Vec<Vector> = Vec::with_capacity(batch.len());
            for (id, v) in batch {
                if let Some(chunk) = chunk_of.get(&format!("{}{id}", ds.prefix)) {
                    ids.push(*chunk);
                    vecs.push(v.clone());
                }
            }
            update_embeddings(&mut c, &ids, &vecs, MODEL, DIM as i32)?;
        }
    }
    // Vectors written by hand reach the counters through a recount; the
    // postings take every chunk; fresh statistics for the planner (VACUUM
    // runs outside a transaction block: one statement per call).
    for sql in [
        "SELECT * FROM rag_backfill_recount()",
        "SELECT rag_search.postings_merge()",
        "VACUUM ANALYZE rag_search.documents",
        "VACUUM ANALYZE rag_search.chunks",
    ] {
        c.batch_execute(sql)?;
    }
    let r = c.query_one("SELECT chunks, embedded FROM rag_stats()", &[])?;
    let (chunks, embedded): (i64, i64) = (r.get(0), r.get(1));
    if chunks != embedded {
        return Err(format!("{embedded} of {chunks} chunks have a vector").into());
    }
    Ok(format!("{chunks} chunks ({}), all with their real vectors", parts.join(", ")))
}

/// Waits until the standby has replayed everything the primary wrote.
fn wait_for_replay(primary: &str, standby: &str) -> Result<()> {
    let lsn: String = connect(primary, "postgres")?.query_one("SELECT pg_current_wal_insert_lsn()::text", &[])?.get(0);
    let mut s = connect(standby, "postgres")?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done: bool =
            s.query_one("SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)", &[&lsn])?.get(0);
        if done {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the standby did not replay up to {lsn} in 10 minutes").into());
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Every judged query of both datasets with its vector.
fn load_queries(shared: &Path) -> Result<Vec<Query>> {
    let emb = shared.join("embeddings/me5-small-q4");
    let mut out = Vec::new();
    for ds in &DATASETS {
        out.extend(judged_queries(&shared.join(ds.dir), ds.qrels, &emb, ds.query_vectors)?.0);
    }
    Ok(out)
}

/// What the clients of one run did.
#[derive(Default)]
struct Run {
    /// Milliseconds of each completed search, by variant.
    times: Vec<Vec<f64>>,
    errors: usize,
    first_error: Option<String>,
    elapsed: f64,
}

impl Run {
    fn completed(&self) -> usize {
        self.times.iter().map(Vec::len).sum()
    }

    fn per_second(&self) -> f64 {
        self.completed() as f64 / self.elapsed.max(1e-9)
    }

    /// Percentile of one variant's latencies, or of all of them.
    fn percentile(&self, variant: Option<usize>, p: f64) -> f64 {
        let mut ms: Vec<f64> = match variant {
            Some(v) => self.times.get(v).cloned().unwrap_or_default(),
            None => self.times.concat(),
        };
        ms.sort_by(f64::total_cmp);
        percentile(&ms, p)
    }
}

/// `clients` connections to each server run the variants in turn over the
/// queries for `seconds`.
fn run_clients(servers: &[&str], clients: usize, seconds: f64, queries: &Arc<Vec<Query>>) -> Result<Run> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut handles = Vec::new();
    for (s, dsn) in servers.iter().enumerate() {
        for i in 0..clients {
            let dsn = dsn.to_string();
            let queries = Arc::clone(queries);
            let seed = s * clients + i;
            handles.push(thread::spawn(move || client_loop(&dsn, seed, deadline, &queries)));
        }
    }
    let mut run = Run { times: vec![Vec::new(); VARIANTS.len()], ..Run::default() };
    for h in handles {
        let part = h.join().map_err(|_| "a client thread panicked")??;
        for (all, mine) in run.times.iter_mut().zip(part.times) {
            all.extend(mine);
        }
        run.errors += part.errors;
        run.first_error = run.first_error.or(part.first_error);
    }
    run.elapsed = start.elapsed().as_secs_f64();
    Ok(run)
}

fn client_loop(dsn: &str, seed: usize, deadline: Instant, queries: &[Query]) -> Result<Run> {
    let mut c: Client = connect(dsn, DATABASE)?;
    let search = c.prepare("SELECT chunk_id FROM rag_hybrid_search($1, $2, $3, $4, NULL, $5::text::jsonb)")?;
    let pages = c.prepare("SELECT doc_id FROM rag_candidate_pages($1, $2)")?;
    let mut run = Run { times: vec![Vec::new(); VARIANTS.len()], ..Run::default() };
    let mut n = 0usize;
    while Instant::now() < deadline {
        let q = &queries[(seed * 7919 + n * 31) % queries.len()];
        let v = (seed + n) % VARIANTS.len();
        let (_, mode, options) = VARIANTS[v];
        let t = Instant::now();
        let outcome = match mode {
            Some(mode) => c.query(&search, &[&q.text, &q.vector, &TOP_K, &mode, &options.map(str::to_string)]),
            None => c.query(&pages, &[&q.text, &TOP_K]),
        };
        match outcome {
            Ok(_) => run.times[v].push(t.elapsed().as_secs_f64() * 1000.0),
            Err(e) => {
                run.errors += 1;
                run.first_error.get_or_insert_with(|| e.to_string());
            }
        }
        n += 1;
    }
    Ok(run)
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    corpus: &str,
    queries: usize,
    clients: usize,
    seconds: f64,
    warmup: f64,
    runs: &[(&str, usize, Run)],
    load_at_start: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Command: `{}` (revision {}). {corpus}; {queries} questions (SciFact test claims and Korean dev \
         questions) with their precomputed vectors, top {TOP_K}. Each client runs the variants below in turn \
         (weighted and RRF hybrid, fts, vector, lexical — the query vector given — and rag_candidate_pages) \
         for {seconds:.0} s after a {warmup:.0} s warm-up; the standby is a `pg_basebackup -R` copy of the \
         primary on the same machine, streaming.\n",
        args.get("command"),
        args.get("revision")
    );
    s.push_str("| server | clients | searches/s | p50 ms | p95 ms | errors |\n|---|---:|---:|---:|---:|---:|\n");
    for (label, servers, run) in runs {
        let _ = writeln!(
            s,
            "| {label} | {} | {:.1} | {:.1} | {:.1} | {} |",
            clients * servers,
            run.per_second(),
            run.percentile(None, 50.0),
            run.percentile(None, 95.0),
            run.errors
        );
    }
    s.push_str("\np50 / p95 in ms per variant:\n\n| variant |");
    for (label, _, _) in runs {
        let _ = write!(s, " {label} |");
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(runs.len()));
    s.push('\n');
    for (v, (label, _, _)) in VARIANTS.iter().enumerate() {
        let _ = write!(s, "| {label} |");
        for (_, _, run) in runs {
            let _ = write!(s, " {:.1} / {:.1} |", run.percentile(Some(v), 50.0), run.percentile(Some(v), 95.0));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\nBoth servers share the machine's cores: on one machine a standby adds no capacity (the \
         \"primary + standby\" row), it shows that a standby serves every search at the primary's cost. On \
         separate machines each standby adds its own. Figures are provisional while other work loads the \
         machine (see the load averages).\n\nMachine:\n\n{}",
        machine_markdown(load_at_start)
    );
    s
}
