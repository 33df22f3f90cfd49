//! Seeded fuzzing of the extension's SQL surface over a client connection.
//!
//! [`gen::Generator`] draws the inputs (one SQL call each); [`Fuzzer`] runs
//! them against a database and applies the oracle: the server never
//! restarts and the connection stays usable, no error is `XX000`, every
//! SQLSTATE is one [docs/errors.md](../../../../docs/errors.md) documents,
//! every error the extension raises carries a hint, NUL characters are
//! refused, and rows are well formed (ranks 1…n within top_k, finite
//! scores, every hit inside the filter). The fast subset runs in
//! `tests/fuzz_sql.rs`, the long run is `bench/fuzz.sh`.

pub mod gen;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, Row};

/// What an input calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Search,
    SearchWithVector,
    CandidatePages,
    Upsert,
    UpsertMany,
    Delete,
    Setting,
    Reset,
    BackfillStep,
    Status,
    Worker,
    Model,
    TextSearchConfig,
    Internal,
    Nul,
    Maintenance,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::Search,
        Kind::SearchWithVector,
        Kind::CandidatePages,
        Kind::Upsert,
        Kind::UpsertMany,
        Kind::Delete,
        Kind::Setting,
        Kind::Reset,
        Kind::BackfillStep,
        Kind::Status,
        Kind::Worker,
        Kind::Model,
        Kind::TextSearchConfig,
        Kind::Internal,
        Kind::Nul,
        Kind::Maintenance,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Search => "rag_hybrid_search",
            Kind::SearchWithVector => "rag_hybrid_search (query vector)",
            Kind::CandidatePages => "rag_candidate_pages",
            Kind::Upsert => "rag_upsert_document",
            Kind::UpsertMany => "rag_upsert_documents",
            Kind::Delete => "rag_delete_document",
            Kind::Setting => "set_config(rag_search.*)",
            Kind::Reset => "RESET ALL",
            Kind::BackfillStep => "rag_backfill_step",
            Kind::Status => "status, counts, retry_failed",
            Kind::Worker => "rag_backfill_start/stop/resume",
            Kind::Model => "rag_set_embedding_model",
            Kind::TextSearchConfig => "rag_set_text_search_config",
            Kind::Internal => "rag_search.index_text/index_tsvector/chunk_tsvector/bm25/document_frequencies",
            Kind::Nul => "NUL in text (must be refused)",
            Kind::Maintenance => "term_stats_compact, postings_merge",
        }
    }
}

/// One argument, sent with its own type.
#[derive(Clone, Debug)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i32>),
    Bigint(Option<i64>),
    Bool(Option<bool>),
    Ids(Option<Vec<Option<i64>>>),
    Bytes(Option<Vec<u8>>),
}

impl Arg {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Arg::Text(v) => v,
            Arg::Int(v) => v,
            Arg::Bigint(v) => v,
            Arg::Bool(v) => v,
            Arg::Ids(v) => v,
            Arg::Bytes(v) => v,
        }
    }

    /// A short description for reports (long texts are cut, with their
    /// length).
    fn describe(&self) -> String {
        fn cut(s: &str) -> String {
            let n = s.chars().count();
            if n <= 80 {
                format!("{s:?}")
            } else {
                format!("{:?}… ({n} chars)", s.chars().take(80).collect::<String>())
            }
        }
        match self {
            Arg::Text(Some(s)) => cut(s),
            Arg::Bytes(Some(b)) => format!("{} bytes", b.len()),
            Arg::Ids(Some(ids)) => cut(&format!("{ids:?}")),
            Arg::Int(Some(v)) => v.to_string(),
            Arg::Bigint(Some(v)) => v.to_string(),
            Arg::Bool(Some(v)) => v.to_string(),
            _ => "NULL".to_string(),
        }
    }
}

/// What the oracle checks on success besides the error rules.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    None,
    /// rag_hybrid_search rows: rank, score, vector_score, fts_score,
    /// title_score, lexical_score, mode, filter_ok.
    Search { top_k: Option<i32> },
    /// rag_candidate_pages rows: doc_id, rank, hit_chunks, best_chunk_id,
    /// title_score.
    Pages { limit: Option<i32> },
    /// rag_upsert_document: action, chunks, kept, added, removed.
    Upsert,
    /// rag_upsert_documents: one row per element.
    UpsertMany { elements: usize },
    /// The call must fail with this SQLSTATE.
    Rejected(&'static str),
}

pub struct Input {
    pub kind: Kind,
    pub sql: &'static str,
    pub args: Vec<Arg>,
    pub check: Check,
}

impl Input {
    pub fn new(kind: Kind, sql: &'static str, args: Vec<Arg>, check: Check) -> Input {
        Input { kind, sql, args, check }
    }

    pub fn describe(&self) -> String {
        let args: Vec<String> = self.args.iter().map(Arg::describe).collect();
        format!("{}({})", self.kind.name(), args.join(", "))
    }
}

/// The SQLSTATEs docs/errors.md lists: the first column of its tables.
pub fn documented_sqlstates(docs: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(docs).unwrap_or_else(|e| panic!("{}: {e}", docs.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.get(..5).filter(|_| l.get(5..6) == Some("`")))
        .filter(|code| code.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()))
        .map(str::to_string)
        .collect()
}

/// Phrases of server log lines that report a crashed backend (a signal,
/// a PANIC, the postmaster reinitialising).
const CRASH_LOG_PHRASES: &[&str] = &["terminated by signal", "PANIC", "was terminated", "server process"];

/// The lines of a server log that report a crashed backend.
pub fn crash_log_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| CRASH_LOG_PHRASES.iter().any(|p| l.contains(p))).collect()
}

/// The path of docs/errors.md in the repository.
pub fn errors_doc() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md")
}

/// A broken rule, with the input that broke it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub index: usize,
    pub rule: &'static str,
    pub detail: String,
    pub input: String,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub inputs: usize,
    pub elapsed: Duration,
    /// Inputs per kind: (succeeded, failed).
    pub by_kind: BTreeMap<&'static str, (usize, usize)>,
    /// Errors per SQLSTATE.
    pub by_sqlstate: BTreeMap<String, usize>,
    /// Per SQLSTATE, the messages (numbers and quoted parts elided) and
    /// how often each came.
    pub messages: BTreeMap<String, BTreeMap<String, usize>>,
    pub crashes: usize,
    pub internal_errors: usize,
    pub findings: Vec<Finding>,
    /// The slowest inputs: (milliseconds, index, description).
    pub slowest: Vec<(f64, usize, String)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }

    /// The findings, one per line (at most `n`).
    pub fn findings_text(&self, n: usize) -> String {
        let mut s = String::new();
        for f in self.findings.iter().take(n) {
            let _ = writeln!(s, "#{} [{}] {}\n    input: {}", f.index, f.rule, f.detail, f.input);
        }
        if self.findings.len() > n {
            let _ = writeln!(s, "… and {} more", self.findings.len() - n);
        }
        s
    }

    /// The findings grouped by rule and message (numbers and quoted parts
    /// elided), each with its count and first input.
    pub fn findings_summary(&self) -> String {
        let mut groups: BTreeMap<String, (usize, &Finding)> = BTreeMap::new();
        for f in &self.findings {
            let key = format!("[{}] {}", f.rule, pattern_of(&f.detail));
            groups.entry(key).or_insert((0, f)).0 += 1;
        }
        let mut s = String::new();
        for (key, (n, first)) in groups {
            let _ = writeln!(s, "{n} × {key}\n    first: #{} {}\n    {}", first.index, first.detail, first.input);
        }
        s
    }

    /// A Markdown summary: inputs per kind, errors per SQLSTATE, the rules.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Inputs: {} (seed {}), {:.1} s; crashes (server restarts or lost connections): {}; `XX000`: {}; \
             other rule violations: {}.\n",
            self.inputs,
            self.seed,
            self.elapsed.as_secs_f64(),
            self.crashes,
            self.internal_errors,
            self.findings.len() - self.crashes - self.internal_errors,
        );
        let _ = writeln!(s, "| call | inputs | succeeded | failed with an error |\n|---|---:|---:|---:|");
        for (kind, (ok, err)) in &self.by_kind {
            let _ = writeln!(s, "| {kind} | {} | {ok} | {err} |", ok + err);
        }
        let _ = writeln!(s, "\n| SQLSTATE | errors | most frequent messages (numbers and quoted values elided) |\n|---|---:|---|");
        for (code, n) in &self.by_sqlstate {
            let mut messages: Vec<(&String, &usize)> = self.messages.get(code).map(|m| m.iter().collect()).unwrap_or_default();
            messages.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let shown: Vec<String> = messages
                .iter()
                .take(4)
                .map(|(m, k)| format!("{} ({k})", m.replace('|', "\\|").replace('\n', " ")))
                .collect();
            let more = if messages.len() > 4 { format!("; {} more", messages.len() - 4) } else { String::new() };
            let _ = writeln!(s, "| `{code}` | {n} | {}{more} |", shown.join("; "));
        }
        let _ = writeln!(s, "\nSlowest inputs:\n");
        for (ms, index, input) in &self.slowest {
            let _ = writeln!(s, "- {ms:.0} ms: #{index} {input}");
        }
        s
    }
}

/// Runs inputs against one database and applies the oracle.
pub struct Fuzzer {
    dsn: String,
    client: Client,
    postmaster_started: String,
    documented: BTreeSet<String>,
    report: Report,
}

/// The statement timeout of the fuzzing session: an input that runs this
/// long is a finding, not a hang.
const STATEMENT_TIMEOUT: &str = "60s";

fn postmaster_start_time(c: &mut Client) -> Option<String> {
    c.query_one("SELECT pg_postmaster_start_time()::text", &[]).ok().map(|r| r.get(0))
}

impl Fuzzer {
    pub fn new(dsn: &str, seed: u64) -> Fuzzer {
        let mut client = crate::connect_dsn(dsn);
        Self::prepare(&mut client);
        let postmaster_started = postmaster_start_time(&mut client).expect("pg_postmaster_start_time()");
        Fuzzer {
            dsn: dsn.to_string(),
            client,
            postmaster_started,
            documented: documented_sqlstates(&errors_doc()),
            report: Report { seed, ..Report::default() },
        }
    }

    fn prepare(c: &mut Client) {
        c.batch_execute(&format!("SET statement_timeout = '{STATEMENT_TIMEOUT}'; SET client_min_messages = warning"))
            .expect("session settings");
    }

    fn finding(&mut self, index: usize, rule: &'static str, detail: String, input: &Input) {
        self.report.findings.push(Finding { index, rule, detail, input: input.describe() });
    }

    /// Runs one input and checks it.
    pub fn run(&mut self, index: usize, input: &Input) {
        let params: Vec<&(dyn ToSql + Sync)> = input.args.iter().map(Arg::as_sql).collect();
        let started = Instant::now();
        let result = self.client.query(input.sql, &params);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.report.inputs += 1;
        self.note_time(ms, index, input);
        let tally = self.report.by_kind.entry(input.kind.name()).or_default();
        match &result {
            Ok(_) => tally.0 += 1,
            Err(_) => tally.1 += 1,
        }
        match result {
            Ok(rows) => {
                if let Check::Rejected(code) = input.check {
                    self.finding(index, "NUL accepted", format!("expected SQLSTATE {code}, the call succeeded"), input);
                } else {
                    self.check_rows(index, input, &rows);
                }
            }
            Err(e) => match e.as_db_error() {
                Some(db) => {
                    let code = db.code().code().to_string();
                    *self.report.by_sqlstate.entry(code.clone()).or_default() += 1;
                    let pattern = pattern_of(db.message());
                    *self.report.messages.entry(code.clone()).or_default().entry(pattern).or_default() += 1;
                    let raised_by_rust = db.file().is_some_and(|f| f.ends_with(".rs"));
                    let what = format!("{code}: {} ({}:{})", db.message(), db.file().unwrap_or("?"), db.line().unwrap_or(0));
                    if let Check::Rejected(expected) = input.check {
                        if code != expected {
                            self.finding(index, "NUL not refused cleanly", format!("expected {expected}, got {what}"), input);
                        }
                    }
                    if code == "XX000" {
                        self.report.internal_errors += 1;
                        self.finding(index, "XX000", what.clone(), input);
                    } else if !self.documented.contains(&code) {
                        self.finding(index, "undocumented SQLSTATE", what.clone(), input);
                    } else if raised_by_rust && db.hint().is_none_or(str::is_empty) {
                        self.finding(index, "error without a hint", what.clone(), input);
                    }
                    if code == "57014" {
                        self.finding(index, "statement timeout", format!("ran over {STATEMENT_TIMEOUT}: {what}"), input);
                    }
                }
                None => self.lost_connection(index, input, &e.to_string()),
            },
        }
        if index % 100 == 99 {
            self.check_server(index, input);
        }
    }

    fn note_time(&mut self, ms: f64, index: usize, input: &Input) {
        let slowest = &mut self.report.slowest;
        if slowest.len() < 5 || ms > slowest[slowest.len() - 1].0 {
            slowest.push((ms, index, input.describe()));
            slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
            slowest.truncate(5);
        }
    }

    /// The connection broke: a crash unless the server is the same and the
    /// session merely ended.
    fn lost_connection(&mut self, index: usize, input: &Input, error: &str) {
        self.report.crashes += 1;
        self.finding(index, "crash", format!("the connection failed: {error}"), input);
        self.client = crate::connect_dsn(&self.dsn);
        Self::prepare(&mut self.client);
        if let Some(now) = postmaster_start_time(&mut self.client) {
            self.postmaster_started = now;
        }
    }

    /// The server is the one the run started with, and the session works.
    fn check_server(&mut self, index: usize, input: &Input) {
        match postmaster_start_time(&mut self.client) {
            Some(now) if now == self.postmaster_started => {}
            Some(now) => {
                self.report.crashes += 1;
                self.finding(index, "crash", format!("the server restarted (started {now})"), input);
                self.postmaster_started = now;
            }
            None => self.lost_connection(index, input, "SELECT pg_postmaster_start_time() failed"),
        }
    }

    fn check_rows(&mut self, index: usize, input: &Input, rows: &[Row]) {
        let problem = match input.check {
            Check::Search { top_k } => search_rows_problem(rows, top_k),
            Check::Pages { limit } => pages_rows_problem(rows, limit),
            Check::Upsert => upsert_rows_problem(rows, 0, 1),
            Check::UpsertMany { elements } => {
                if rows.len() != elements {
                    Some(format!("{} rows for {elements} elements", rows.len()))
                } else {
                    upsert_rows_problem(rows, 1, elements)
                }
            }
            Check::None | Check::Rejected(_) => None,
        };
        if let Some(p) = problem {
            self.finding(index, "malformed result", p, input);
        }
    }

    /// Ends the run: a last check of the server, the totals.
    pub fn finish(mut self, elapsed: Duration) -> (Report, Client) {
        let last = Input::new(Kind::Status, "SELECT 1", vec![], Check::None);
        self.check_server(usize::MAX, &last);
        self.report.elapsed = elapsed;
        (self.report, self.client)
    }
}

/// A message with digits and quoted parts elided, for grouping.
fn pattern_of(detail: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in detail.chars().take(200) {
        match c {
            '"' => {
                quoted = !quoted;
                if quoted {
                    out.push_str("\"…\"");
                }
            }
            _ if quoted => {}
            '0'..='9' => {
                if !out.ends_with('N') {
                    out.push('N');
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn finite(x: Option<f64>) -> bool {
    x.is_none_or(f64::is_finite)
}

const RAN_MODES: &[&str] = &["fts", "vector", "lexical", "hybrid", "fts+lexical"];

fn search_rows_problem(rows: &[Row], top_k: Option<i32>) -> Option<String> {
    let top_k = top_k.unwrap_or(0).max(0) as usize;
    if rows.len() > top_k {
        return Some(format!("{} rows for top_k {top_k}", rows.len()));
    }
    let mut ranked: Vec<(i32, f64)> = Vec::with_capacity(rows.len());
    for r in rows {
        let rank: i32 = r.get("rank");
        let score: f64 = r.get("score");
        let signals: [Option<f64>; 4] =
            [r.get("vector_score"), r.get("fts_score"), r.get("title_score"), r.get("lexical_score")];
        let mode: String = r.get("mode");
        let filter_ok: Option<bool> = r.get("filter_ok");
        if !score.is_finite() || !signals.iter().all(|s| finite(*s)) {
            return Some(format!("rank {rank}: a score is not finite: {score} {signals:?}"));
        }
        if !RAN_MODES.contains(&mode.as_str()) {
            return Some(format!("rank {rank}: mode {mode:?}"));
        }
        if filter_ok == Some(false) {
            return Some(format!("rank {rank}: the document does not match the filter"));
        }
        ranked.push((rank, score));
    }
    ranked.sort_by_key(|r| r.0);
    for (i, (rank, score)) in ranked.iter().enumerate() {
        if *rank != i as i32 + 1 {
            return Some(format!("ranks are not 1…n: {:?}", ranked.iter().map(|r| r.0).collect::<Vec<_>>()));
        }
        if i > 0 && *score > ranked[i - 1].1 + 1e-9 {
            return Some(format!("rank {rank} scores {score}, above rank {}'s {}", rank - 1, ranked[i - 1].1));
        }
    }
    None
}

fn pages_rows_problem(rows: &[Row], limit: Option<i32>) -> Option<String> {
    let limit = limit.unwrap_or(0).max(0) as usize;
    if rows.len() > limit {
        return Some(format!("{} pages for limit {limit}", rows.len()));
    }
    let mut seen = BTreeSet::new();
    for r in rows {
        let doc_id: String = r.get("doc_id");
        let rank: f64 = r.get("rank");
        let title_score: f64 = r.get("title_score");
        let hits: i32 = r.get("hit_chunks");
        if !rank.is_finite() || !title_score.is_finite() || hits < 0 {
            return Some(format!("page {doc_id:?}: rank {rank}, title_score {title_score}, hit_chunks {hits}"));
        }
        if !seen.insert(doc_id.clone()) {
            return Some(format!("page {doc_id:?} listed twice"));
        }
    }
    None
}

/// Upsert rows: an action, and chunks = kept + added. `first` is the
/// column of the action.
fn upsert_rows_problem(rows: &[Row], first: usize, expected: usize) -> Option<String> {
    if rows.len() != expected {
        return Some(format!("{} rows, expected {expected}", rows.len()));
    }
    for r in rows {
        let action: String = r.get(first);
        let chunks: i32 = r.get(first + 1);
        let kept: i32 = r.get(first + 2);
        let added: i32 = r.get(first + 3);
        let removed: i32 = r.get(first + 4);
        if !["inserted", "updated", "unchanged"].contains(&action.as_str()) {
            return Some(format!("action {action:?}"));
        }
        if chunks != kept + added || removed < 0 || (action == "unchanged" && added + removed != 0) {
            return Some(format!("{action}: chunks {chunks}, kept {kept}, added {added}, removed {removed}"));
        }
    }
    None
}

/// Called with the number of inputs done and the report so far.
pub type Progress<'a> = dyn Fn(usize, &Report) + 'a;

/// A fuzzing run: `inputs` inputs of `seed` against the database of `dsn`
/// (created with the extension and pointed at a fixture embedder at
/// `fixture_url` serving `dimension`-dimensional embeddings).
pub struct Run<'a> {
    pub dsn: &'a str,
    pub seed: u64,
    pub inputs: usize,
    pub max_text: usize,
    pub fixture_url: &'a str,
    pub dimension: usize,
    /// Every so many inputs, a report of the number done.
    pub progress: Option<(usize, &'a Progress<'a>)>,
}

impl Run<'_> {
    pub fn execute(&self) -> (Report, Client) {
        let mut fuzzer = Fuzzer::new(self.dsn, self.seed);
        let mut generator = gen::Generator::new(self.seed, self.max_text, self.fixture_url, self.dimension);
        let started = Instant::now();
        for index in 0..self.inputs {
            let input = generator.next_input();
            fuzzer.run(index, &input);
            if let Some((every, f)) = self.progress {
                if (index + 1) % every == 0 {
                    f(index + 1, &fuzzer.report);
                }
            }
        }
        fuzzer.finish(started.elapsed())
    }
}

/// Prepares a database for fuzzing: the model `m` at `dimension`
/// dimensions, the sample documents with metadata the filters can match
/// (language, tenant, tags), every chunk embedded by the fixture the
/// database points at.
pub fn seed_corpus(c: &mut Client, dimension: usize) {
    c.batch_execute(&format!("SELECT * FROM rag_set_embedding_model('m', {dimension})")).expect("switch model");
    let mut docs = crate::samples::sample_documents(39);
    for (i, d) in docs.iter_mut().enumerate() {
        let korean = d["title"].as_str().is_some_and(|t| t.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)));
        let lang = if korean { "ko" } else { "en" };
        let tag = ["a", "b", "c"][i % 3];
        d["metadata"] = serde_json::json!({
            "lang": lang, "tenant": format!("t{}", i % 4 + 1), "tags": [tag], "n": i % 6,
        });
    }
    crate::samples::upsert_documents(c, &docs);
    c.batch_execute("RESET ALL").expect("reset");
    crate::backfill::step_until_idle(c, 64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_sqlstates_are_read_from_the_tables() {
        let codes = documented_sqlstates(&errors_doc());
        for code in ["22023", "22004", "58000", "42501", "22021"] {
            assert!(codes.contains(code), "{code} missing from docs/errors.md: {codes:?}");
        }
        assert!(!codes.contains("XX000"), "XX000 is never an acceptable answer");
    }
}
