//! `load_bench --dsn "host=... port=... user=..." --shared DIR --fixture-url URL --clients 16
//!  --seconds 60 --min-chunks 50000 --drain-timeout-s 3600 --server-log PATH --report PATH
//!  --command CMD --revision REV --date YYYY-MM-DD`
//!
//! Search under load while the corpus changes: the SciFact and Korean
//! corpora of `--shared`, copied until they hold `--min-chunks` chunks, are
//! ingested without embeddings; then, for `--seconds`, `--clients` search
//! clients run the real SciFact and Korean questions (every mode with the
//! questions' real multilingual-e5-small vectors, `auto` with the query
//! embedded over HTTP by the fixture embedder, and rag_candidate_pages)
//! while the background worker embeds the chunks through the fixture
//! embedder and an ingester upserts and deletes documents. Afterwards the
//! worker finishes the backfill and the run checks the end state: coverage
//! 100%, rag_backfill_status() equal to rag_backfill_recount(), and every
//! document's chunks exactly what its content hash says (the chunking of
//! the content the ingester last wrote). Writes the "Search under load"
//! section of the report file; exits non-zero when a search or ingest
//! failed, a deadlock happened or a check failed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgvector::Vector;
use postgres::Client;
use rag_core::chunk::{chunk_text, ChunkSettings};
use rag_core::hash::{chunk_hash, hex, source_hash};
use rag_search_integration::backfill::fresh_database_at;
use rag_search_bench::beir::{judged_queries, read_jsonl, str_field, E5_DIM};
use rag_search_bench::rng::Rng;
use rag_search_bench::{load_average, machine_markdown, percentile, replace_section, Args};
use serde_json::{json, Value};

const DATABASE: &str = "rag_load";
const HEADING: &str = "## Search under load";
const MODEL: &str = "fixture-e5-dim";
const TOP_K: i32 = 10;
/// Documents per rag_upsert_documents call while loading the corpus.
const LOAD_BATCH: usize = 500;

/// What a search client calls.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Variant {
    /// rag_hybrid_search(q, top_k): mode auto, the query embedded over HTTP.
    Auto,
    Hybrid,
    Fts,
    Vector,
    Lexical,
    Pages,
}

const VARIANTS: [Variant; 6] =
    [Variant::Auto, Variant::Hybrid, Variant::Fts, Variant::Vector, Variant::Lexical, Variant::Pages];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Auto => "rag_hybrid_search, mode auto (query embedded by the fixture)",
            Variant::Hybrid => "rag_hybrid_search, hybrid (real query vector)",
            Variant::Fts => "rag_hybrid_search, fts",
            Variant::Vector => "rag_hybrid_search, vector (real query vector)",
            Variant::Lexical => "rag_hybrid_search, lexical",
            Variant::Pages => "rag_candidate_pages",
        }
    }

    fn mode(self) -> &'static str {
        match self {
            Variant::Hybrid => "hybrid",
            Variant::Fts => "fts",
            Variant::Vector => "vector",
            Variant::Lexical => "lexical",
            Variant::Auto | Variant::Pages => "",
        }
    }
}

struct Question {
    text: String,
    vector: Vector,
}

/// A document as the client last wrote it.
#[derive(Clone)]
struct Doc {
    title: String,
    content: String,
    lang: &'static str,
}

fn doc_json(doc_id: &str, d: &Doc) -> Value {
    json!({"doc_id": doc_id, "title": d.title, "content": d.content, "metadata": {"lang": d.lang}})
}

/// Errors by SQLSTATE (or "connection"), with the first message of each.
#[derive(Default)]
struct Errors(BTreeMap<String, (usize, String)>);

impl Errors {
    fn add(&mut self, e: &postgres::Error) {
        let (code, message) = match e.as_db_error() {
            Some(db) => (db.code().code().to_string(), db.message().to_string()),
            None => ("connection".to_string(), e.to_string()),
        };
        self.0.entry(code).or_insert((0, message)).0 += 1;
    }

    fn total(&self) -> usize {
        self.0.values().map(|(n, _)| n).sum()
    }

    fn merge(&mut self, other: Errors) {
        for (code, (n, message)) in other.0 {
            self.0.entry(code).or_insert((0, message)).0 += n;
        }
    }

    fn count(&self, code: &str) -> usize {
        self.0.get(code).map_or(0, |e| e.0)
    }

    fn describe(&self) -> String {
        if self.0.is_empty() {
            return "none".to_string();
        }
        self.0.iter().map(|(code, (n, m))| format!("{n} × `{code}` ({m})")).collect::<Vec<_>>().join("; ")
    }
}

#[derive(Default)]
struct ClientResult {
    /// Milliseconds per call, by variant.
    latencies: BTreeMap<Variant, Vec<f64>>,
    errors: Errors,
}

#[derive(Default)]
struct IngestResult {
    upsert_calls: usize,
    documents_upserted: usize,
    deletes: usize,
    errors: Errors,
}

type R<T> = rag_search_bench::Result<T>;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("[load] {e}");
            ExitCode::FAILURE
        }
    }
}

fn progress(msg: &str) {
    eprintln!("[load] {msg}");
}

fn one_i64(c: &mut Client, sql: &str) -> R<i64> {
    Ok(c.query_one(sql, &[])?.get(0))
}

/// The corpus documents of both datasets, copied until their chunks reach
/// `min_chunks` (chunk counts from the chunker itself).
fn corpus(shared: &Path, min_chunks: usize) -> R<Vec<(String, Doc)>> {
    let settings = ChunkSettings::default();
    let mut base: Vec<(String, Doc)> = Vec::new();
    for (set, lang) in [("scifact", "en"), ("autorag-ko-dev", "ko")] {
        for d in read_jsonl(&shared.join("datasets").join(set).join("corpus.jsonl"))? {
            let doc = Doc { title: str_field(&d, "title"), content: str_field(&d, "text"), lang };
            base.push((format!("{set}:{}", str_field(&d, "_id")), doc));
        }
    }
    let per_copy: usize = base.iter().map(|(_, d)| chunk_text(&d.content, &settings).len()).sum();
    let copies = min_chunks.div_ceil(per_copy.max(1)).max(1);
    let mut docs = Vec::with_capacity(base.len() * copies);
    for copy in 0..copies {
        for (id, d) in &base {
            docs.push((format!("c{copy}:{id}"), d.clone()));
        }
    }
    progress(&format!("corpus: {} documents × {copies} copies, {} chunks", base.len(), per_copy * copies));
    Ok(docs)
}

fn questions(shared: &Path) -> R<Vec<Question>> {
    let emb = shared.join("embeddings/me5-small-q4");
    let mut out = Vec::new();
    for (set, qrels, vectors) in
        [("scifact", "qrels/test.tsv", "scifact-test-queries"), ("autorag-ko-dev", "qrels/dev.tsv", "autorag-ko-dev-queries")]
    {
        let (queries, _) = judged_queries(&shared.join("datasets").join(set), qrels, &emb, vectors)?;
        out.extend(queries.into_iter().map(|q| Question { text: q.text, vector: q.vector }));
    }
    Ok(out)
}

fn search_client(dsn: &str, index: usize, questions: &[Question], stop: &AtomicBool) -> ClientResult {
    let mut result = ClientResult::default();
    let mut c = rag_search_integration::connect_dsn(dsn);
    let mut rng = Rng(0x5EED + index as u64);
    let mut turn = index;
    while !stop.load(Ordering::Relaxed) {
        let q = &questions[rng.between(0, questions.len() - 1)];
        let variant = VARIANTS[turn % VARIANTS.len()];
        turn += 1;
        let started = Instant::now();
        let outcome = match variant {
            Variant::Auto => c.query("SELECT * FROM rag_hybrid_search($1::text, $2::int)", &[&q.text, &TOP_K]),
            Variant::Pages => c.query("SELECT * FROM rag_candidate_pages($1::text, $2::int)", &[&q.text, &TOP_K]),
            _ => c.query(
                "SELECT * FROM rag_hybrid_search($1::text, $2::vector, $3::int, $4::text)",
                &[&q.text, &q.vector, &TOP_K, &variant.mode()],
            ),
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok(_) => result.latencies.entry(variant).or_default().push(ms),
            Err(e) => {
                result.errors.add(&e);
                if e.as_db_error().is_none() {
                    c = rag_search_integration::connect_dsn(dsn);
                }
            }
        }
    }
    result
}

/// Upserts (new documents, rewritten and retitled corpus documents, in
/// batches and one by one) and deletes until `stop`; `docs` follows every
/// committed change.
fn ingester(dsn: &str, docs: &Mutex<HashMap<String, Doc>>, ids: &[String], stop: &AtomicBool) -> IngestResult {
    let mut result = IngestResult::default();
    let mut c = rag_search_integration::connect_dsn(dsn);
    let mut rng = Rng(0x1A6E57);
    let mut next_new = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let action = rng.between(0, 99);
        if action < 20 {
            // Delete a document, corpus or new.
            let id = ids[rng.between(0, ids.len() - 1)].clone();
            let id = if rng.unit() < 0.5 && next_new > 0 { format!("new:{}", rng.between(0, next_new - 1)) } else { id };
            match c.query_one("SELECT rag_delete_document($1::text)", &[&id]) {
                Ok(_) => {
                    docs.lock().expect("documents").remove(&id);
                    result.deletes += 1;
                }
                Err(e) => result.errors.add(&e),
            }
            continue;
        }
        let batch = if action < 40 { 1 } else { rng.between(5, 40) };
        let mut changes: Vec<(String, Doc)> = Vec::with_capacity(batch);
        for _ in 0..batch {
            let source_id = &ids[rng.between(0, ids.len() - 1)];
            let mut doc = {
                let known = docs.lock().expect("documents");
                known.get(source_id).cloned()
            }
            .unwrap_or_else(|| Doc { title: format!("restored {source_id}"), content: "restored".into(), lang: "en" });
            let id = match rng.between(0, 3) {
                // A new document with a corpus text.
                0 => {
                    next_new += 1;
                    format!("new:{}", next_new - 1)
                }
                // A corpus document rewritten: a sentence appended (its last
                // chunk changes, the others are kept).
                1 => {
                    doc.content.push_str(&format!(" Revised {} times.", rng.between(1, 1_000_000)));
                    source_id.clone()
                }
                // Retitled only: no chunk changes.
                2 => {
                    doc.title = format!("{} (v{})", doc.title, rng.between(1, 1_000_000));
                    source_id.clone()
                }
                // Rewritten in the middle: a paragraph inserted.
                _ => {
                    let at = doc.content.char_indices().map(|(i, _)| i).nth(doc.content.chars().count() / 2).unwrap_or(0);
                    doc.content.insert_str(at, "\n\nAn inserted paragraph.\n\n");
                    source_id.clone()
                }
            };
            if changes.iter().all(|(known, _)| known != &id) {
                changes.push((id, doc));
            }
        }
        let payload = Value::Array(changes.iter().map(|(id, d)| doc_json(id, d)).collect()).to_string();
        match c.query("SELECT doc_id FROM rag_upsert_documents($1::text::jsonb)", &[&payload]) {
            Ok(_) => {
                result.upsert_calls += 1;
                result.documents_upserted += changes.len();
                let mut known = docs.lock().expect("documents");
                for (id, d) in changes {
                    known.insert(id, d);
                }
            }
            Err(e) => result.errors.add(&e),
        }
    }
    result
}

struct Status {
    total: i64,
    embedded: i64,
    missing: i64,
    failed: i64,
    coverage: String,
}

fn status(c: &mut Client) -> R<Status> {
    let r = c.query_one(
        "SELECT total, embedded, missing, failed, coverage_pct::text AS coverage FROM rag_backfill_status()",
        &[],
    )?;
    Ok(Status {
        total: r.get("total"),
        embedded: r.get("embedded"),
        missing: r.get("missing"),
        failed: r.get("failed"),
        coverage: r.get("coverage"),
    })
}

/// Every stored document against what the client last wrote: the same set
/// of doc_ids, the source hash of its content, and its chunks the chunking
/// of that content (ordinals 0…n-1, each with its content hash). Returns
/// (documents, chunks, problems with the first few described).
fn check_documents(c: &mut Client, expected: &HashMap<String, Doc>) -> R<(usize, usize, Vec<String>)> {
    let settings = ChunkSettings::default();
    let rows = c.query(
        "SELECT d.doc_id, encode(d.source_hash, 'hex') AS source_hash,
                coalesce(array_agg(c.ordinal ORDER BY c.ordinal) FILTER (WHERE c.id IS NOT NULL), '{}') AS ordinals,
                coalesce(array_agg(c.content ORDER BY c.ordinal) FILTER (WHERE c.id IS NOT NULL), '{}') AS contents,
                coalesce(array_agg(encode(c.content_hash, 'hex') ORDER BY c.ordinal) FILTER (WHERE c.id IS NOT NULL), '{}')
                    AS hashes
         FROM rag_search.documents d LEFT JOIN rag_search.chunks c ON c.document_id = d.id
         GROUP BY d.id",
        &[],
    )?;
    let mut problems = Vec::new();
    let mut chunks = 0usize;
    let mut seen = 0usize;
    for r in &rows {
        let doc_id: String = r.get("doc_id");
        let Some(doc) = expected.get(&doc_id) else {
            problems.push(format!("{doc_id}: stored, but the client deleted it or never wrote it"));
            continue;
        };
        seen += 1;
        let stored_hash: String = r.get("source_hash");
        let ordinals: Vec<i32> = r.get("ordinals");
        let contents: Vec<String> = r.get("contents");
        let hashes: Vec<String> = r.get("hashes");
        chunks += contents.len();
        let want = chunk_text(&doc.content, &settings);
        if stored_hash != hex(&source_hash(&doc.content, &settings)) {
            problems.push(format!("{doc_id}: the source hash is not that of the content last written"));
        } else if ordinals != (0..want.len() as i32).collect::<Vec<_>>() {
            problems.push(format!("{doc_id}: ordinals {ordinals:?}, expected 0…{}", want.len()));
        } else if contents != want {
            problems.push(format!("{doc_id}: the chunks are not the chunking of the content"));
        } else if hashes.iter().zip(&contents).any(|(h, text)| *h != hex(&chunk_hash(text))) {
            problems.push(format!("{doc_id}: a chunk's content hash does not match its text"));
        }
    }
    if seen != expected.len() {
        problems.push(format!("{} documents written by the client are missing", expected.len() - seen));
    }
    Ok((rows.len(), chunks, problems))
}

fn latency_row(name: &str, ms: &mut [f64], seconds: f64) -> String {
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() {
        return format!("| {name} | 0 | | | | |");
    }
    format!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        ms.len(),
        ms.len() as f64 / seconds,
        percentile(ms, 50.0),
        percentile(ms, 95.0),
        percentile(ms, 99.0)
    )
}

fn run() -> R<bool> {
    let args = Args::parse();
    let dsn_base = args.get("dsn");
    let shared = PathBuf::from(args.get("shared"));
    let fixture_url = args.get("fixture-url");
    let clients: usize = args.get("clients").parse()?;
    let seconds: u64 = args.get("seconds").parse()?;
    let min_chunks: usize = args.get("min-chunks").parse()?;
    let drain_timeout = Duration::from_secs(args.get("drain-timeout-s").parse()?);
    let load_at_start = load_average();

    let questions = Arc::new(questions(&shared)?);
    let corpus = corpus(&shared, min_chunks)?;

    let dsn = fresh_database_at(dsn_base, DATABASE, fixture_url);
    let mut c = rag_search_integration::connect_dsn(&dsn);
    c.batch_execute(&format!("SELECT * FROM rag_set_embedding_model('{MODEL}', {E5_DIM})"))?;
    let mut c = rag_search_integration::connect_dsn(&dsn);

    let started = Instant::now();
    for batch in corpus.chunks(LOAD_BATCH) {
        let payload = Value::Array(batch.iter().map(|(id, d)| doc_json(id, d)).collect()).to_string();
        c.query("SELECT doc_id FROM rag_upsert_documents($1::text::jsonb)", &[&payload])?;
    }
    c.batch_execute("ANALYZE")?;
    let before = status(&mut c)?;
    progress(&format!(
        "ingested {} documents, {} chunks in {:.0} s",
        corpus.len(),
        before.total,
        started.elapsed().as_secs_f64()
    ));
    let ids: Arc<Vec<String>> = Arc::new(corpus.iter().map(|(id, _)| id.clone()).collect());
    let docs: Arc<Mutex<HashMap<String, Doc>>> = Arc::new(Mutex::new(corpus.into_iter().collect()));
    let deadlocks_before =
        one_i64(&mut c, &format!("SELECT deadlocks FROM pg_stat_database WHERE datname = '{DATABASE}'"))?;

    // The worker in maintenance mode: it embeds what the ingester adds
    // and keeps running when nothing is missing.
    c.batch_execute("SELECT * FROM rag_backfill_start(mode => 'maintenance')")?;
    let window_start: String = c.query_one("SELECT now()::text", &[])?.get(0);
    progress(&format!("{clients} search clients, one ingester, the worker: {seconds} s"));
    let stop = Arc::new(AtomicBool::new(false));
    let mut searchers = Vec::new();
    for i in 0..clients {
        let (dsn, questions, stop) = (dsn.clone(), Arc::clone(&questions), Arc::clone(&stop));
        searchers.push(std::thread::spawn(move || search_client(&dsn, i, &questions, &stop)));
    }
    let ing = {
        let (dsn, docs, ids, stop) = (dsn.clone(), Arc::clone(&docs), Arc::clone(&ids), Arc::clone(&stop));
        std::thread::spawn(move || ingester(&dsn, &docs, &ids, &stop))
    };
    let window = Instant::now();
    let mut samples = Vec::new();
    while window.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(10).min(Duration::from_secs(seconds).saturating_sub(window.elapsed())));
        let s = status(&mut c)?;
        progress(&format!("{:.0} s: {} of {} chunks embedded ({}%)", window.elapsed().as_secs_f64(), s.embedded, s.total, s.coverage));
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    let mut search = ClientResult::default();
    for h in searchers {
        let r = h.join().map_err(|_| "a search client panicked")?;
        for (v, ms) in r.latencies {
            search.latencies.entry(v).or_default().extend(ms);
        }
        search.errors.merge(r.errors);
    }
    let ingest = ing.join().map_err(|_| "the ingester panicked")?;
    let elapsed = window.elapsed().as_secs_f64();
    let embedded_in_window = one_i64(
        &mut c,
        &format!("SELECT count(*) FROM rag_search.chunks WHERE embedded_at >= '{window_start}'::timestamptz"),
    )?;
    let at_end_of_window = status(&mut c)?;

    progress("the worker finishes the backfill");
    let drain = Instant::now();
    let mut last = status(&mut c)?;
    while last.missing > 0 && drain.elapsed() < drain_timeout {
        std::thread::sleep(Duration::from_secs(5));
        last = status(&mut c)?;
    }
    let drain_s = drain.elapsed().as_secs_f64();
    c.batch_execute("SELECT * FROM rag_backfill_stop()")?;
    let embedded_total =
        one_i64(&mut c, &format!("SELECT count(*) FROM rag_search.chunks WHERE embedded_at >= '{window_start}'::timestamptz"))?;
    let end = status(&mut c)?;
    let recount = c.query_one("SELECT total, embedded FROM rag_backfill_recount()", &[])?;
    let (recount_total, recount_embedded): (i64, i64) = (recount.get("total"), recount.get("embedded"));
    let deadlocks =
        one_i64(&mut c, &format!("SELECT deadlocks FROM pg_stat_database WHERE datname = '{DATABASE}'"))? - deadlocks_before;
    let expected = docs.lock().map_err(|_| "documents lock")?.clone();
    let (documents_checked, chunks_checked, problems) = check_documents(&mut c, &expected)?;
    let log = std::fs::read_to_string(args.get("server-log")).unwrap_or_default();
    let fatal = rag_search_integration::fuzz::crash_log_lines(&log).len();

    let mut all: Vec<f64> = search.latencies.values().flatten().copied().collect();
    let searches = all.len();
    let mut table = String::from(
        "| call | searches | searches/s | p50 ms | p95 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for (v, ms) in search.latencies.iter_mut() {
        table.push_str(&latency_row(v.name(), ms, elapsed));
        table.push('\n');
    }
    table.push_str(&latency_row("**all**", &mut all, elapsed));
    table.push('\n');
    let progress_line: Vec<String> = samples.iter().map(|s| format!("{} ({}%)", s.embedded, s.coverage)).collect();
    let counts_agree = end.total == recount_total && end.embedded == recount_embedded;
    let complete = end.missing == 0 && end.coverage == "100.00";
    let deadlock_errors = search.errors.count("40P01") + ingest.errors.count("40P01");
    let passed = search.errors.total() == 0
        && ingest.errors.total() == 0
        && deadlocks == 0
        && deadlock_errors == 0
        && complete
        && counts_agree
        && problems.is_empty()
        && fatal == 0;

    let body = format!(
        "Command: `{command}`, rag_search at {revision}, release build, {date}. **Provisional**: measured while \
         other work shared the machine (load averages below); the figures are for a quiet machine to confirm.\n\n\
         Corpus: the SciFact and Korean corpora of `../shared` copied to {docs_loaded} documents, {chunks_before} \
         chunks, ingested without embeddings; model `{MODEL}` at {E5_DIM} dimensions served by the fixture embedder \
         (HNSW index maintained, the schema as shipped, default settings). For {seconds} s: {clients} search clients \
         (each one connection, calls back to back, top_k {TOP_K}) cycle through the variants below with the 357 \
         real SciFact and Korean questions (the vector modes with the questions' real multilingual-e5-small vectors, \
         `auto` embeds the question over HTTP through the fixture), while the background worker (maintenance mode) \
         embeds the chunks and one ingester upserts (1–40 documents per call: new documents, rewritten and retitled \
         corpus documents) and deletes documents.\n\n\
         {table}\n\
         - Searches: {searches} in {elapsed:.1} s, **{rate:.1} searches/s**; errors: {search_errors}.\n\
         - Ingester: {upsert_calls} upsert calls ({documents_upserted} documents), {deletes} deletes; errors: \
         {ingest_errors}.\n\
         - Deadlocks (pg_stat_database, every session and the worker): **{deadlocks}**; `40P01` errors: \
         {deadlock_errors}. Server log lines reporting a crashed backend: {fatal}.\n\
         - Backfill: {embedded_in_window} chunks embedded by the worker during the {seconds} s (coverage every 10 s: \
         {progress_line}); at the end of the window {window_embedded} of {window_total} ({window_coverage}%). The \
         worker then finished alone in {drain_s:.0} s: {embedded_total} chunks embedded since the start of the window.\n\
         - End state: coverage **{coverage}%**, {missing} missing, {failed} failed; rag_backfill_status() total \
         {total} / embedded {embedded} against rag_backfill_recount() {recount_total} / {recount_embedded}: \
         **{agree}**.\n\
         - Documents: {documents_checked} stored documents with {chunks_checked} chunks checked against the content \
         the ingester last wrote (source hash, ordinals, the chunker's output, each chunk's content hash): \
         **{consistency}**.\n\n\
         {machine}",
        command = args.get("command"),
        revision = args.get("revision"),
        date = args.get("date"),
        docs_loaded = ids.len(),
        chunks_before = before.total,
        rate = searches as f64 / elapsed,
        search_errors = search.errors.describe(),
        upsert_calls = ingest.upsert_calls,
        documents_upserted = ingest.documents_upserted,
        deletes = ingest.deletes,
        ingest_errors = ingest.errors.describe(),
        progress_line = progress_line.join(", "),
        window_embedded = at_end_of_window.embedded,
        window_total = at_end_of_window.total,
        window_coverage = at_end_of_window.coverage,
        coverage = end.coverage,
        missing = end.missing,
        failed = end.failed,
        total = end.total,
        embedded = end.embedded,
        agree = if counts_agree { "equal" } else { "DIFFERENT" },
        consistency = if problems.is_empty() {
            "all consistent".to_string()
        } else {
            format!("{} problems: {}", problems.len(), problems.iter().take(5).cloned().collect::<Vec<_>>().join("; "))
        },
        machine = machine_markdown(&load_at_start),
    );
    replace_section(Path::new(args.get("report")), HEADING, &body)?;
    println!("{body}");
    if !passed {
        progress("FAILED: see the figures above");
    }
    Ok(passed)
}
