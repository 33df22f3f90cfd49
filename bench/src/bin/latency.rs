//! Search latency of rag_search at 1024 dimensions, top_k 8, one client:
//! every mode of rag_hybrid_search (vector overload, so no embedding server
//! time), rag_candidate_pages, and in the same run a client-side version of
//! the reference retriever (separate queries over the same connection,
//! re-ranking in Rust) — at several corpus sizes (`--sizes`, chunks;
//! default 10k, 30k, 100k), growing one seeded corpus from size to size.
//! The largest size gets the detailed report (per-step times, where the
//! extension's time goes, plans).
//!
//! The corpus is generated deterministically (fixed seed). Run through
//! bench/search_latency.sh, which builds and installs the extension and
//! starts a throwaway cluster.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pgvector::Vector;
use postgres::{Client, Statement};
use rag_search_bench::db::{
    auto_explain_off, auto_explain_on, bulk_load_indexes, compact_plan, drop_indexes, truncate, update_embeddings,
    upsert_documents, RelationSizes,
};
use rag_search_bench::reference::{self, KEYWORD_BONUS as REF_KEYWORD_BONUS, STEPS as REF_STEPS, WINDOW as REF_WINDOW};
use rag_search_bench::rng::Rng;
use rag_search_bench::{
    connect, connect_with_notices, fmt_count, fresh_database, load_average, machine_markdown, parse_counts, percentile,
    replace_section, summarize, Args, BarChart, LineChart, Result, Series,
};
use serde_json::{json, Value};

const DATABASE: &str = "rag_bench_latency";
const SEED: u64 = 0x5EED_2024;
/// Documents generated before the queries: corpus sizes up to
/// DOCS × CHUNKS_PER_DOC chunks are prefixes of the same documents with the
/// same queries; larger sizes continue the document stream after them.
const DOCS: usize = 20_000;
const CHUNKS_PER_DOC: usize = 5;
/// Corpus sizes in chunks unless --sizes says otherwise.
const DEFAULT_SIZES: &str = "10000,30000,100000";
const DIM: usize = 1024;
const VOCABULARY: usize = 30_000;
/// Share of the vocabulary that is Korean (Hangul) words.
const KOREAN_SHARE: f64 = 0.15;
/// Zipf exponent of word frequencies (1 ≈ natural language).
const ZIPF_S: f64 = 1.0;
const QUERIES: usize = 200;
const TOP_K: i32 = 8;
/// Each paragraph becomes one chunk: paragraphs are 520–~975 characters,
/// rag_search.chunk_max_chars is 1000 with no overlap, so a paragraph always
/// fits and two never do.
const CHUNK_MAX_CHARS: i32 = 1000;
const PARAGRAPH_CHARS: (usize, usize) = (520, 960);
/// Documents per rag_upsert_documents call, rows per embedding UPDATE.
const BATCH: usize = 500;

/// The reference retriever's parameters at top_k 8 (see
/// rag_search_bench::reference).
const REF_PAGE_HITS: i64 = TOP_K as i64 * reference::PAGE_HITS_PER_RESULT;
const REF_VECTOR_LIMIT: i64 = TOP_K as i64 * reference::VECTOR_OVERSAMPLE;
const REF_RULE_CANDIDATES: usize = reference::RULE_CANDIDATES_PER_RESULT * TOP_K as usize;

const HYBRID_P50_TARGET_MS: f64 = 5.0;
const TEXT_P50_TARGET_MS: f64 = 3.0;
const SPEEDUP_TARGET: f64 = 3.0;

/// What one measured variant runs.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// rag_hybrid_search(q, vector, 8, mode, NULL, options).
    Search { mode: &'static str, options: Option<&'static str> },
    /// rag_candidate_pages(q, 8).
    Pages,
    /// The client-side reference pipeline; `all_terms` makes its tsquery an
    /// AND of the query words instead of an OR.
    Reference { all_terms: bool },
}

const VARIANTS: [(&str, Variant); 8] = [
    ("fts", Variant::Search { mode: "fts", options: None }),
    ("lexical", Variant::Search { mode: "lexical", options: None }),
    ("vector", Variant::Search { mode: "vector", options: None }),
    ("hybrid", Variant::Search { mode: "hybrid", options: None }),
    ("hybrid + window 1", Variant::Search { mode: "hybrid", options: Some(r#"{"window":1}"#) }),
    ("rag_candidate_pages", Variant::Pages),
    ("reference pipeline (OR tsquery)", Variant::Reference { all_terms: false }),
    ("reference pipeline (AND tsquery)", Variant::Reference { all_terms: true }),
];

fn main() -> Result<()> {
    let args = Args::parse();
    let dsn = args.get("dsn");
    let started = Instant::now();
    let load_at_start = load_average();
    let sizes = parse_counts(args.get_or("sizes", DEFAULT_SIZES))?;
    if let Some(bad) = sizes.iter().find(|n| *n % CHUNKS_PER_DOC != 0) {
        return Err(format!("corpus sizes are whole documents of {CHUNKS_PER_DOC} chunks; {bad} is not").into());
    }
    let largest = *sizes.last().expect("parse_counts returns at least one size");

    let corpus = Corpus::generate(largest / CHUNKS_PER_DOC);
    let mut client = fresh_database(dsn, DATABASE)?;
    let mut loader = Loader::new(&mut client)?;
    let mut measured: Vec<SizeResult> = Vec::new();
    for &chunks in &sizes {
        println!("== {chunks} chunks");
        let load = loader.grow(&mut client, &corpus, chunks / CHUNKS_PER_DOC)?;
        println!("{}", load.summary);

        let mut bench = Bench::new(connect(dsn, DATABASE)?, &corpus)?;
        println!("warm-up: every variant on every query");
        bench.pass(false)?;
        println!("measuring: every variant on every query, variants rotated per query");
        bench.pass(true)?;
        let results = bench.results();
        for r in &results {
            println!(
                "{:<34} p50 {:>8.2} ms  p95 {:>8.2} ms  mean {:>8.2} ms{}",
                r.label,
                r.p50,
                r.p95,
                r.mean,
                if r.errors > 0 { format!("  {} ERRORS, first: {}", r.errors, r.first_error) } else { String::new() }
            );
        }
        let steps = bench.step_percentiles();
        for (name, p50, p95) in &steps {
            println!("  reference {name:<52} p50 {p50:>7.2} ms  p95 {p95:>7.2} ms");
        }
        measured.push(SizeResult { chunks, load, results, steps });
    }

    let last = measured.last().expect("at least one size");
    let diagnosis = diagnose(dsn, &corpus, &last.results)?;
    let date: String = client
        .query_one("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'", &[])?
        .get(0);
    let report = report(&Report {
        command: args.get("command"),
        load_at_start: &load_at_start,
        revision: args.get("revision"),
        date: &date,
        seconds: started.elapsed().as_secs_f64(),
        model: &loader.model,
        rebuilt: &loader.rebuilt(),
        corpus: &corpus,
        sizes: &measured,
        diagnosis: &diagnosis,
    });
    replace_section(Path::new(args.get("report")), "## Search latency", &report)?;
    let charts = Path::new(args.get("charts"));
    std::fs::create_dir_all(charts)?;
    std::fs::write(charts.join("search_latency.svg"), chart(last).to_svg())?;
    std::fs::write(charts.join("search_latency_vs_corpus.svg"), corpus_chart(&measured).to_svg())?;
    println!(
        "wrote the \"Search latency\" section of {} and search_latency.svg, search_latency_vs_corpus.svg in {}",
        args.get("report"),
        charts.display()
    );
    Ok(())
}

/// The measurements at one corpus size.
struct SizeResult {
    chunks: usize,
    load: Load,
    results: Vec<VariantResult>,
    steps: Vec<(&'static str, f64, f64)>,
}

struct Corpus {
    /// (doc_id, title, content with paragraphs separated by blank lines).
    documents: Vec<(String, String, String)>,
    /// Query words and vector.
    queries: Vec<(Vec<String>, Vector)>,
    korean_words: usize,
}

impl Corpus {
    /// `docs` documents: the first DOCS of them, then the queries, then the
    /// rest, so that the queries do not depend on `docs`.
    fn generate(docs: usize) -> Corpus {
        let mut rng = Rng(SEED);
        let mut words: Vec<String> = Vec::with_capacity(VOCABULARY);
        let mut seen = HashSet::new();
        let mut korean_words = 0;
        while words.len() < VOCABULARY {
            let korean = rng.unit() < KOREAN_SHARE;
            let w = if korean { korean_word(&mut rng) } else { latin_word(&mut rng) };
            if seen.insert(w.clone()) {
                korean_words += korean as usize;
                words.push(w);
            }
        }
        // Cumulative Zipf weights by rank; words are in random order, so
        // rank is independent of language and length.
        let mut cdf = Vec::with_capacity(VOCABULARY);
        let mut total = 0.0;
        for rank in 1..=VOCABULARY {
            total += 1.0 / (rank as f64).powf(ZIPF_S);
            cdf.push(total);
        }
        let zipf = |rng: &mut Rng| -> &str {
            let x = rng.unit() * total;
            &words[cdf.partition_point(|c| *c < x).min(VOCABULARY - 1)]
        };

        let document = |rng: &mut Rng, i: usize| -> (String, String, String) {
            let title_words: Vec<&str> = (0..rng.between(3, 7)).map(|_| zipf(rng)).collect();
            let mut paragraphs = Vec::with_capacity(CHUNKS_PER_DOC);
            for _ in 0..CHUNKS_PER_DOC {
                let target = rng.between(PARAGRAPH_CHARS.0, PARAGRAPH_CHARS.1);
                let mut p = String::new();
                let mut sentence_left = 0;
                while p.chars().count() < target {
                    if sentence_left == 0 {
                        if !p.is_empty() {
                            p.push_str(". ");
                        }
                        sentence_left = rng.between(6, 18);
                        p.push_str(&capitalised(zipf(rng)));
                    } else {
                        p.push(' ');
                        p.push_str(zipf(rng));
                    }
                    sentence_left -= 1;
                }
                p.push('.');
                paragraphs.push(p);
            }
            (format!("doc-{i:05}"), capitalised(&title_words.join(" ")), paragraphs.join("\n\n"))
        };
        let mut documents: Vec<_> = (0..DOCS).map(|i| document(&mut rng, i)).collect();

        let mut queries = Vec::with_capacity(QUERIES);
        for _ in 0..QUERIES {
            let n = rng.between(2, 4);
            let mut q: Vec<String> = Vec::with_capacity(n);
            while q.len() < n {
                let w = zipf(&mut rng).to_string();
                if !q.contains(&w) {
                    q.push(w);
                }
            }
            queries.push((q, rng.unit_vector(DIM)));
        }
        documents.truncate(docs);
        documents.extend((DOCS..docs).map(|i| document(&mut rng, i)));
        Corpus { documents, queries, korean_words }
    }

    fn mean_words_per_chunk(&self) -> f64 {
        let words: usize = self.documents.iter().map(|d| d.2.split_whitespace().count()).sum();
        words as f64 / (self.documents.len() * CHUNKS_PER_DOC) as f64
    }
}

fn latin_word(rng: &mut Rng) -> String {
    const ONSETS: [&str; 20] =
        ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "ch"];
    const VOWELS: [&str; 7] = ["a", "e", "i", "o", "u", "ai", "ou"];
    let mut w = String::new();
    for _ in 0..rng.between(2, 4) {
        w.push_str(ONSETS[rng.between(0, ONSETS.len() - 1)]);
        w.push_str(VOWELS[rng.between(0, VOWELS.len() - 1)]);
    }
    if rng.unit() < 0.4 {
        w.push_str(["n", "s", "r", "l", "t"][rng.between(0, 4)]);
    }
    w
}

fn korean_word(rng: &mut Rng) -> String {
    (0..rng.between(2, 4)).map(|_| char::from_u32(0xAC00 + rng.between(0, 11_171) as u32).unwrap_or('가')).collect()
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// How one corpus size was loaded.
struct Load {
    summary: String,
}

/// Grows the corpus in the database from size to size.
struct Loader {
    model: String,
    dim: i32,
    /// The GIN and HNSW indexes of the chunks (name, definition).
    definitions: Vec<(String, String)>,
    /// Documents in the database.
    loaded: usize,
    /// Draws the embeddings, chunk after chunk in (doc_id, ordinal) order;
    /// continued from size to size, so every size holds the same vectors a
    /// single load of it would.
    rng: Rng,
}

impl Loader {
    fn new(client: &mut Client) -> Result<Loader> {
        client.batch_execute("CREATE EXTENSION rag_search CASCADE")?;
        let state = client.query_one("SELECT embedding_model, embedding_dim FROM rag_search.index_state", &[])?;
        let (model, dim): (String, i32) = (state.get(0), state.get(1));
        if dim as usize != DIM {
            return Err(format!("the extension's default dimension is {dim}, the benchmark generates {DIM}").into());
        }
        let definitions = bulk_load_indexes(client)?;
        // Seeded apart from the text so the vectors do not depend on it.
        Ok(Loader { model, dim, definitions, loaded: 0, rng: Rng(SEED ^ 0xE3BE_DD1A) })
    }

    /// Names of the indexes dropped for loading and rebuilt.
    fn rebuilt(&self) -> Vec<String> {
        self.definitions.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Adds documents up to `docs` through the API, fills their embeddings,
    /// rebuilds the chunk indexes and analyses.
    fn grow(&mut self, client: &mut Client, corpus: &Corpus, docs: usize) -> Result<Load> {
        let t = Instant::now();
        // The GIN and HNSW indexes of the chunks are dropped and rebuilt from
        // their own definitions after loading (see bulk_load_indexes).
        drop_indexes(client, &self.definitions)?;
        client.batch_execute(&format!(
            "SET rag_search.chunk_max_chars = {CHUNK_MAX_CHARS}; SET rag_search.chunk_overlap_chars = 0"
        ))?;
        for batch in corpus.documents[self.loaded..docs].chunks(BATCH) {
            let docs: Vec<Value> = batch
                .iter()
                .map(|(id, title, content)| json!({"doc_id": id, "title": title, "content": content}))
                .collect();
            upsert_documents(client, docs)?;
        }
        self.loaded = docs;
        let ingest_s = t.elapsed().as_secs_f64();

        let ids: Vec<i64> = client
            .query(
                "SELECT c.id FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id
                 WHERE c.embedding IS NULL
                 ORDER BY d.doc_id, c.ordinal",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let total: i64 = client.query_one("SELECT count(*) FROM rag_search.chunks", &[])?.get(0);
        if total as usize != docs * CHUNKS_PER_DOC {
            return Err(format!("expected {} chunks, ingestion made {total}", docs * CHUNKS_PER_DOC).into());
        }
        let t_embed = Instant::now();
        for batch in ids.chunks(BATCH) {
            let vectors: Vec<Vector> = batch.iter().map(|_| self.rng.unit_vector(DIM)).collect();
            update_embeddings(client, batch, &vectors, &self.model, self.dim)?;
        }
        let embed_s = t_embed.elapsed().as_secs_f64();

        client.batch_execute("VACUUM rag_search.chunks")?;
        let mut index_times = Vec::new();
        for (name, def) in &self.definitions {
            let t = Instant::now();
            client.batch_execute(def)?;
            index_times.push(format!("{name} {:.0} s", t.elapsed().as_secs_f64()));
        }
        client.batch_execute("VACUUM ANALYZE")?;
        let sizes = RelationSizes::of_chunks(client)?;
        let summary = format!(
            "{docs} documents × {CHUNKS_PER_DOC} chunks = {total} chunks; {}. \
             Load {:.0} s ({} new chunks): ingest {ingest_s:.0} s, embeddings {embed_s:.0} s, index builds {}.",
            sizes.summary(),
            t.elapsed().as_secs_f64(),
            ids.len(),
            index_times.join(", "),
        );
        Ok(Load { summary })
    }
}

/// One measured variant's latencies.
struct VariantResult {
    label: &'static str,
    variant: Variant,
    p50: f64,
    p95: f64,
    mean: f64,
    /// Index of the query with the median latency (for EXPLAIN).
    median_query: usize,
    errors: usize,
    first_error: String,
}

struct Bench<'a> {
    client: Client,
    corpus: &'a Corpus,
    search: Statement,
    pages: Statement,
    reference: reference::Statements,
    /// Per variant: (query index, milliseconds) of the measured pass.
    times: Vec<Vec<(usize, f64)>>,
    errors: Vec<(usize, String)>,
    /// Per reference step: milliseconds of the OR pipeline's measured pass.
    steps: Vec<Vec<f64>>,
}

impl<'a> Bench<'a> {
    fn new(mut client: Client, corpus: &'a Corpus) -> Result<Bench<'a>> {
        // The reference oversamples the HNSW scan to top_k × 10 rows; without
        // this pgvector stops at its default ef_search of 40. (The extension
        // sets it itself for the duration of each call.)
        client.batch_execute(&format!("SET hnsw.ef_search = {REF_VECTOR_LIMIT}"))?;
        let search = client.prepare(
            "SELECT chunk_id, doc_id, title, content, score
             FROM rag_hybrid_search($1, $2, $3, $4, NULL, $5::text::jsonb)",
        )?;
        let pages = client.prepare("SELECT doc_id, title, rank, hit_chunks, best_chunk_id FROM rag_candidate_pages($1, $2)")?;
        let reference = reference::Statements::prepare(&mut client)?;
        Ok(Bench {
            client,
            corpus,
            search,
            pages,
            reference,
            times: vec![Vec::new(); VARIANTS.len()],
            errors: vec![(0, String::new()); VARIANTS.len()],
            steps: vec![Vec::new(); REF_STEPS.len()],
        })
    }

    /// Runs every variant on every query; the order of the variants rotates
    /// from query to query so none always runs first (or after another).
    fn pass(&mut self, measured: bool) -> Result<()> {
        for qi in 0..self.corpus.queries.len() {
            for k in 0..VARIANTS.len() {
                let vi = (qi + k) % VARIANTS.len();
                let mut steps = [0.0; REF_STEPS.len()];
                let t = Instant::now();
                let outcome = self.run(VARIANTS[vi].1, qi, &mut steps);
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                if !measured {
                    continue;
                }
                match outcome {
                    Ok(()) => self.times[vi].push((qi, ms)),
                    Err(e) => {
                        let (count, first) = &mut self.errors[vi];
                        *count += 1;
                        if first.is_empty() {
                            *first = format!("query {:?}: {e}", self.corpus.queries[qi].0.join(" "));
                        }
                    }
                }
                if VARIANTS[vi].1 == (Variant::Reference { all_terms: false }) {
                    for (s, v) in steps.iter().enumerate() {
                        self.steps[s].push(*v);
                    }
                }
            }
        }
        Ok(())
    }

    fn run(&mut self, variant: Variant, qi: usize, steps: &mut [f64; REF_STEPS.len()]) -> Result<()> {
        let (words, vector) = &self.corpus.queries[qi];
        let q = words.join(" ");
        match variant {
            Variant::Search { mode, options } => {
                let options = options.map(str::to_string);
                self.client.query(&self.search, &[&q, vector, &TOP_K, &mode, &options])?;
            }
            Variant::Pages => {
                self.client.query(&self.pages, &[&q, &TOP_K])?;
            }
            Variant::Reference { all_terms } => {
                reference::run(&mut self.client, &self.reference, words, vector, all_terms, TOP_K, steps)?;
            }
        }
        Ok(())
    }

    fn results(&self) -> Vec<VariantResult> {
        VARIANTS
            .iter()
            .zip(&self.times)
            .zip(&self.errors)
            .map(|(((label, variant), times), (errors, first_error))| {
                let s = summarize(times);
                VariantResult {
                    label,
                    variant: *variant,
                    p50: s.p50,
                    p95: s.p95,
                    mean: s.mean,
                    median_query: s.median_query,
                    errors: *errors,
                    first_error: first_error.clone(),
                }
            })
            .collect()
    }

    fn step_percentiles(&self) -> Vec<(&'static str, f64, f64)> {
        REF_STEPS
            .iter()
            .zip(&self.steps)
            .map(|(name, v)| {
                let mut v = v.clone();
                v.sort_by(f64::total_cmp);
                (*name, percentile(&v, 50.0), percentile(&v, 95.0))
            })
            .collect()
    }
}

/// Where the time of the extension's calls goes.
struct Diagnosis {
    /// Per extension variant: the statements it ran, by total time.
    statements: Vec<(&'static str, Vec<StatementStat>)>,
    /// EXPLAIN ANALYZE of every statement of the median query of each
    /// variant that missed its target.
    plans: Vec<(&'static str, String, Vec<String>)>,
}

struct StatementStat {
    calls: i64,
    mean_ms: f64,
    plan_ms: f64,
    rows: f64,
    query: String,
}

/// Reruns the extension variants with pg_stat_statements tracking nested
/// statements (one pass over the queries) and, for variants that missed a
/// target, logs the median query's plans through auto_explain.
fn diagnose(dsn: &str, corpus: &Corpus, results: &[VariantResult]) -> Result<Diagnosis> {
    let notices = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&notices);
    let mut client = connect_with_notices(dsn, DATABASE, move |n| sink.lock().expect("notice sink").push(n))?;
    client.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
         SET pg_stat_statements.track = 'all';
         SET pg_stat_statements.track_planning = on;",
    )?;
    let search = client.prepare(
        "SELECT chunk_id, doc_id, title, content, score FROM rag_hybrid_search($1, $2, $3, $4, NULL, $5::text::jsonb)",
    )?;
    let pages = client.prepare("SELECT doc_id, title, rank, hit_chunks, best_chunk_id FROM rag_candidate_pages($1, $2)")?;
    let run = |client: &mut Client, variant: Variant, qi: usize| -> Result<()> {
        let (words, vector) = &corpus.queries[qi];
        let q = words.join(" ");
        match variant {
            Variant::Search { mode, options } => {
                client.query(&search, &[&q, vector, &TOP_K, &mode, &options.map(str::to_string)])?;
            }
            Variant::Pages => {
                client.query(&pages, &[&q, &TOP_K])?;
            }
            Variant::Reference { .. } => {}
        }
        Ok(())
    };

    let mut statements = Vec::new();
    let mut plans = Vec::new();
    for r in results.iter().filter(|r| !matches!(r.variant, Variant::Reference { .. })) {
        println!("diagnosing {}", r.label);
        client.execute("SELECT pg_stat_statements_reset()", &[])?;
        for qi in 0..corpus.queries.len() {
            // Failures were counted in the measured pass already.
            let _ = run(&mut client, r.variant, qi);
        }
        let stats = client
            .query(
                "SELECT calls, total_exec_time / calls, total_plan_time / calls, rows::float8 / calls,
                        regexp_replace(query, '\\s+', ' ', 'g')
                 FROM pg_stat_statements
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND calls > 0 AND query NOT LIKE '%pg_stat_statements%'
                 ORDER BY total_exec_time + total_plan_time DESC
                 LIMIT 10",
                &[],
            )?
            .iter()
            .map(|row| StatementStat {
                calls: row.get(0),
                mean_ms: row.get(1),
                plan_ms: row.get(2),
                rows: row.get(3),
                query: row.get(4),
            })
            .collect();
        statements.push((r.label, stats));

        if missed(r).is_some() {
            auto_explain_on(&mut client, true)?;
            notices.lock().expect("notice sink").clear();
            let _ = run(&mut client, r.variant, r.median_query);
            auto_explain_off(&mut client)?;
            let logged = std::mem::take(&mut *notices.lock().expect("notice sink"));
            plans.push((r.label, corpus.queries[r.median_query].0.join(" "), logged.iter().map(|n| compact_plan(n)).collect()));
        }
    }
    Ok(Diagnosis { statements, plans })
}

/// The target a variant missed, if any.
fn missed(r: &VariantResult) -> Option<String> {
    let target = match r.variant {
        Variant::Search { mode: "hybrid", options: None } => HYBRID_P50_TARGET_MS,
        Variant::Search { mode: "fts" | "lexical", .. } => TEXT_P50_TARGET_MS,
        _ => return None,
    };
    (r.p50 > target || r.errors > 0).then(|| format!("p50 ≤ {target} ms"))
}

struct Report<'a> {
    command: &'a str,
    load_at_start: &'a str,
    revision: &'a str,
    date: &'a str,
    seconds: f64,
    model: &'a str,
    rebuilt: &'a [String],
    corpus: &'a Corpus,
    /// Ascending corpus sizes; the last gets the detailed report.
    sizes: &'a [SizeResult],
    diagnosis: &'a Diagnosis,
}

fn report(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Command: `{}` (whole run {:.0} s) · {} · rag_search at {}\n", r.command, r.seconds, r.date, r.revision);
    s.push_str(&machine_markdown(r.load_at_start));
    let largest = r.sizes.last().expect("at least one size");
    let size_list: Vec<String> = r.sizes.iter().map(|z| z.chunks.to_string()).collect();
    let _ = writeln!(
        s,
        "\nCorpus, generated with seed {SEED:#x}: documents with titles of 3–7 words and {CHUNKS_PER_DOC} \
         paragraphs of {}–~975 characters (mean {:.0} words per chunk), ingested with `rag_upsert_documents` \
         (`chunk_max_chars = {CHUNK_MAX_CHARS}`, no overlap, so one paragraph = one chunk). Words are drawn \
         from a Zipf (s = {ZIPF_S}) distribution over {VOCABULARY} synthetic words, {} of them Korean \
         (Hangul). Embeddings are random unit vectors at {DIM} dimensions stored under the current model \
         ({}). One run grows the corpus through {} chunks (sizes: `--sizes`, `LATENCY_SIZES` in the \
         script): each size adds the next documents of the same seeded stream, so a smaller corpus is a \
         prefix of a larger one, and the queries are the same at every size.\n",
        PARAGRAPH_CHARS.0,
        r.corpus.mean_words_per_chunk(),
        r.corpus.korean_words,
        r.model,
        size_list.join(", "),
    );
    for z in r.sizes {
        let _ = writeln!(s, "- {}", z.load.summary);
    }
    let _ = writeln!(
        s,
        "\n\
         Throwaway PostgreSQL 18 cluster: shared_buffers 2GB, maintenance_work_mem 2GB, \
         max_parallel_maintenance_workers 1, fsync/full_page_writes/synchronous_commit off (irrelevant to \
         read latency), other settings default; `VACUUM ANALYZE` after loading each size. The GIN and HNSW \
         indexes of the chunks ({}) are dropped before loading each size and recreated afterwards from their \
         own definitions.\n\n\
         {QUERIES} queries of 2–4 distinct words from the same Zipf distribution, each with a random unit \
         query vector; top_k {TOP_K}; one client connection over TCP on localhost with prepared statements; \
         one warm-up pass of every variant over every query, then one measured pass, the order of the \
         variants rotated per query. Times are client-side wall times including fetching the rows \
         (chunk id, doc id, title, content, score). Extension modes use the vector overload \
         `rag_hybrid_search(q, query_vector, {TOP_K}, mode)`, so no embedding-server time is counted.\n\n\
         Reference pipeline (client side, same connection, same weights as the extension's defaults): \
         (1) candidate pages: the best {REF_PAGE_HITS} chunks by `ts_rank_cd` for `tsv @@ to_tsquery('simple', …)` \
         grouped by page, top {TOP_K} pages; (2) `ORDER BY embedding <=> $1 LIMIT {REF_VECTOR_LIMIT}` \
         (hnsw.ef_search = {REF_VECTOR_LIMIT}); (3) `ts_rank_cd` of the vector hits; (4) `similarity(title, q)` and \
         `word_similarity(q, content)` of all candidates; (5) weighted score in Rust (1/(1+d), rank/max rank); \
         (6) neighbour chunks (±{REF_WINDOW}) of the best {REF_RULE_CANDIDATES} fetched, +{REF_KEYWORD_BONUS} when \
         the window or title contains every query word, top {TOP_K}. Run with an OR tsquery (the \
         extension's recall-first semantics) and with an AND tsquery.\n",
        r.rebuilt.join(", "),
    );

    s.push_str(&size_table(r.sizes));
    s.push_str("\n![latency p50 (solid) and p95 (dashed) per mode versus corpus size](bench/charts/search_latency_vs_corpus.svg)\n");

    let _ = writeln!(s, "\n### At {} chunks\n", largest.chunks);

    s.push_str("| variant | p50 ms | p95 ms | mean ms | target | |\n|---|---:|---:|---:|---|---|\n");
    let hybrid = largest.results.iter().find(|v| v.variant == Variant::Search { mode: "hybrid", options: None });
    for v in &largest.results {
        let (target, verdict) = match v.variant {
            Variant::Search { mode: "hybrid", options: None } => {
                (format!("p50 ≤ {HYBRID_P50_TARGET_MS} ms"), met(v.p50 <= HYBRID_P50_TARGET_MS && v.errors == 0))
            }
            Variant::Search { mode: "fts" | "lexical", .. } => {
                (format!("p50 ≤ {TEXT_P50_TARGET_MS} ms"), met(v.p50 <= TEXT_P50_TARGET_MS && v.errors == 0))
            }
            Variant::Reference { .. } => {
                let speedup = hybrid.map_or(f64::NAN, |h| v.p50 / h.p50);
                (
                    format!("hybrid ≥ {SPEEDUP_TARGET}× faster"),
                    format!("{speedup:.1}× → {}", met(speedup >= SPEEDUP_TARGET)),
                )
            }
            _ => (String::new(), String::new()),
        };
        let _ = writeln!(s, "| {} | {:.2} | {:.2} | {:.2} | {target} | {verdict} |", v.label, v.p50, v.p95, v.mean);
    }
    for v in largest.results.iter().filter(|v| v.errors > 0) {
        let _ = writeln!(s, "\n**Errors** in {}: {} failed queries, first: {}", v.label, v.errors, v.first_error);
    }

    s.push_str("\nReference pipeline (OR tsquery) by step:\n\n| step | p50 ms | p95 ms |\n|---|---:|---:|\n");
    for (name, p50, p95) in &largest.steps {
        let _ = writeln!(s, "| {name} | {p50:.2} | {p95:.2} |");
    }

    let _ = writeln!(
        s,
        "\n![latency p50/p95 per variant at {} chunks](bench/charts/search_latency.svg)",
        largest.chunks
    );

    let _ = write!(
        s,
        "\n### Where the extension's time goes\n\n\
         At {} chunks: a second pass over the queries per variant with `pg_stat_statements.track = all` and \
         `track_planning = on` (nested SPI statements included; means per call; the top-level call's row \
         includes its nested statements).\n",
        largest.chunks
    );
    for (label, stats) in &r.diagnosis.statements {
        let _ = writeln!(s, "\n**{label}**\n\n| calls | exec ms | plan ms | rows | statement |\n|---:|---:|---:|---:|---|");
        for st in stats {
            let _ = writeln!(
                s,
                "| {} | {:.3} | {:.3} | {:.1} | `{}` |",
                st.calls,
                st.mean_ms,
                st.plan_ms,
                st.rows,
                truncate(&st.query, 140).replace('|', "\\|")
            );
        }
    }
    for (label, query, plans) in &r.diagnosis.plans {
        let _ = writeln!(
            s,
            "\n<details><summary>EXPLAIN ANALYZE (auto_explain, nested statements) of {label} for its median query \
             “{query}”</summary>\n\n```"
        );
        for p in plans {
            s.push_str(p.trim_end());
            s.push_str("\n\n");
        }
        s.push_str("```\n</details>\n");
    }
    s
}

/// The "latency versus corpus size" table: p50 / p95 of every variant at
/// every size, and p50 growth from the smallest to the largest.
fn size_table(sizes: &[SizeResult]) -> String {
    let mut s = String::new();
    let (first, largest) = (&sizes[0], &sizes[sizes.len() - 1]);
    s.push_str("### Latency versus corpus size\n\np50 / p95 in milliseconds at each size");
    if sizes.len() > 1 {
        let _ = write!(s, "; the last column is p50 at {} ÷ p50 at {} chunks", largest.chunks, first.chunks);
    }
    s.push_str(".\n\n| variant |");
    for z in sizes {
        let _ = write!(s, " {} chunks p50 / p95 |", z.chunks);
    }
    if sizes.len() > 1 {
        s.push_str(" p50 growth |");
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(sizes.len() + usize::from(sizes.len() > 1)));
    s.push('\n');
    for (vi, (label, _)) in VARIANTS.iter().enumerate() {
        let _ = write!(s, "| {label} |");
        for z in sizes {
            let v = &z.results[vi];
            let _ = write!(s, " {:.2} / {:.2}{} |", v.p50, v.p95, if v.errors > 0 { " (errors)" } else { "" });
        }
        if sizes.len() > 1 {
            let _ = write!(s, " {:.1}× |", largest.results[vi].p50 / first.results[vi].p50);
        }
        s.push('\n');
    }
    s
}

fn met(ok: bool) -> String {
    if ok { "**met**".to_string() } else { "**missed**".to_string() }
}

fn chart(size: &SizeResult) -> BarChart {
    let results = &size.results;
    BarChart {
        title: format!("Search latency, {} chunks × {DIM}-d, top_k {TOP_K}, one client", size.chunks),
        y_label: "milliseconds (log scale)".to_string(),
        series: vec!["p50".to_string(), "p95".to_string()],
        groups: results.iter().map(|r| (r.label.to_string(), vec![r.p50, r.p95])).collect(),
        lines: vec![
            (HYBRID_P50_TARGET_MS, format!("hybrid p50 target {HYBRID_P50_TARGET_MS} ms")),
            (TEXT_P50_TARGET_MS, format!("fts/lexical p50 target {TEXT_P50_TARGET_MS} ms")),
        ],
        log: true,
    }
}

/// The variants drawn against corpus size: the four modes and the
/// reference pipeline as the extension would be used against.
const CORPUS_CHART_VARIANTS: [&str; 5] = ["fts", "lexical", "vector", "hybrid", "reference pipeline (OR tsquery)"];

fn corpus_chart(sizes: &[SizeResult]) -> LineChart {
    let mut series = Vec::new();
    for (color, label) in CORPUS_CHART_VARIANTS.iter().enumerate() {
        let vi = VARIANTS.iter().position(|(l, _)| l == label).expect("charted variants are measured");
        for (dashed, pick) in [(false, "p50"), (true, "p95")] {
            let points = sizes
                .iter()
                .map(|z| {
                    let v = &z.results[vi];
                    (z.chunks as f64, if dashed { v.p95 } else { v.p50 })
                })
                .collect();
            let name = label.replace("reference pipeline (OR tsquery)", "reference (OR)");
            series.push(Series { name: format!("{name} {pick}"), color, dashed, points });
        }
    }
    let sizes_label: Vec<String> = sizes.iter().map(|z| fmt_count(z.chunks as f64)).collect();
    LineChart {
        title: format!("Search latency vs corpus size ({} chunks), {DIM}-d, top_k {TOP_K}, one client", sizes_label.join(" / ")),
        x_label: "corpus size, chunks (log scale)".to_string(),
        y_label: "milliseconds (log scale)".to_string(),
        series,
        x_log: true,
        y_log: true,
        point_labels: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_corpora_are_prefixes_with_the_same_queries() {
        let small = Corpus::generate(200);
        let large = Corpus::generate(DOCS + 10);
        assert_eq!(small.documents.len(), 200);
        assert_eq!(large.documents.len(), DOCS + 10);
        assert_eq!(small.documents[..], large.documents[..200]);
        assert_eq!(small.queries.len(), QUERIES);
        for (a, b) in small.queries.iter().zip(&large.queries) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.as_slice(), b.1.as_slice());
        }
        assert_eq!(large.documents[DOCS].0, format!("doc-{DOCS:05}"));
    }

    fn size(chunks: usize, p50: f64) -> SizeResult {
        let results = VARIANTS
            .iter()
            .map(|(label, variant)| VariantResult {
                label,
                variant: *variant,
                p50,
                p95: p50 * 3.0,
                mean: p50,
                median_query: 0,
                errors: 0,
                first_error: String::new(),
            })
            .collect();
        SizeResult { chunks, load: Load { summary: String::new() }, results, steps: Vec::new() }
    }

    #[test]
    fn size_table_has_a_column_per_size_and_the_growth() {
        let table = size_table(&[size(10_000, 2.0), size(100_000, 5.0)]);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 2 + VARIANTS.len());
        assert_eq!(rows[0], "| variant | 10000 chunks p50 / p95 | 100000 chunks p50 / p95 | p50 growth |");
        assert_eq!(rows[1], "|---|---:|---:|---:|");
        assert_eq!(rows[2], "| fts | 2.00 / 6.00 | 5.00 / 15.00 | 2.5× |");
        // One size: no growth column.
        let single = size_table(&[size(10_000, 2.0)]);
        assert!(single.contains("| variant | 10000 chunks p50 / p95 |\n|---|---:|\n"));
    }
}
