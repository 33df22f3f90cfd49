//! `backfill_bench --dsn-base "host=... port=... user=..." --fixture-url URL
//!  --clientside PATH [--chunks 20000] [--hnsw-chunks 2000] [--status-chunks 1000000]
//!  [--sweep-chunks 10000] [--sweep-batches 8,16,...] [--sweep-repeats 3] [--sweep-chart PATH]`
//!
//! Embedding backfill throughput at 1024 dimensions against a fixture
//! embedder, in one run: the background worker, rag_backfill_step in a
//! client loop, the plain client-side program (`clientside_backfill`), and
//! a raw `UPDATE ... SET embedding` ceiling — twice: with the HNSW index
//! maintained on every write (`--hnsw-chunks`, the schema as shipped), and
//! with the HNSW index deferred (dropped, built once afterwards; `--chunks`).
//! Then a sweep of the worker's batch size (the rag_search.backfill_batch_size
//! setting) over `--sweep-batches` on `--sweep-chunks` chunks with the HNSW
//! index deferred, drawn as an SVG line chart (`--sweep-chart`). Then
//! rag_backfill_status() latency on `--status-chunks` chunks. Every
//! scenario of a table starts from a copy of the same seeded database.
//! Prints a Markdown section (used by bench/backfill_throughput.sh).

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use rag_core::embed::{EmbedClient, EmbedConfig, Provider};
use rag_search_bench::{parse_counts, LineChart, Series};

const DIM: usize = 1024;
const MODEL: &str = "qwen3-embedding:8b";

struct Args {
    dsn_base: String,
    fixture_url: String,
    clientside: String,
    chunks: usize,
    hnsw_chunks: usize,
    status_chunks: usize,
    sweep_chunks: usize,
    sweep_batches: Vec<usize>,
    sweep_repeats: usize,
    sweep_chart: Option<String>,
}

/// A seeded database every scenario of one table starts from.
struct Setup {
    template: &'static str,
    chunks: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        dsn_base: String::new(),
        fixture_url: String::new(),
        clientside: String::new(),
        chunks: 20_000,
        hnsw_chunks: 2_000,
        status_chunks: 1_000_000,
        sweep_chunks: 10_000,
        sweep_batches: vec![8, 16, 32, 64, 128, 256, 512, 1024],
        sweep_repeats: 3,
        sweep_chart: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dsn-base" => a.dsn_base = v,
            "--fixture-url" => a.fixture_url = v,
            "--clientside" => a.clientside = v,
            "--chunks" => a.chunks = v.parse().map_err(|_| format!("--chunks: {v}"))?,
            "--hnsw-chunks" => a.hnsw_chunks = v.parse().map_err(|_| format!("--hnsw-chunks: {v}"))?,
            "--status-chunks" => a.status_chunks = v.parse().map_err(|_| format!("--status-chunks: {v}"))?,
            "--sweep-chunks" => a.sweep_chunks = v.parse().map_err(|_| format!("--sweep-chunks: {v}"))?,
            "--sweep-batches" => a.sweep_batches = parse_counts(&v).map_err(|e| format!("--sweep-batches: {e}"))?,
            "--sweep-repeats" => {
                a.sweep_repeats = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("--sweep-repeats: {v}"))?
            }
            "--sweep-chart" => a.sweep_chart = Some(v),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if a.dsn_base.is_empty() || a.fixture_url.is_empty() || a.clientside.is_empty() {
        return Err("--dsn-base, --fixture-url and --clientside are required".into());
    }
    Ok(a)
}

type R<T> = Result<T, String>;

fn connect(base: &str, db: &str) -> R<Client> {
    Client::connect(&format!("{base} dbname={db}"), NoTls).map_err(|e| format!("connect {db}: {e}"))
}

fn exec(c: &mut Client, sql: &str) -> R<()> {
    c.batch_execute(sql).map_err(|e| {
        let detail = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default();
        format!("{e} {detail}: {sql}")
    })
}

fn progress(msg: &str) {
    eprintln!("[backfill_bench] {msg}");
}

/// A chunk text of about 1,000 characters (one chunk per document).
fn chunk_text(i: usize) -> String {
    let mut s = format!("Document {i}. ");
    let mut k = 0;
    while s.len() < 1000 {
        s.push_str(&format!(
            "Paragraph sentence {k} of record {i} talks about retrieval, embeddings and database work. "
        ));
        k += 1;
    }
    s
}

fn seed_template(a: &Args, setup: &Setup, keep_hnsw: bool) -> R<()> {
    let name = setup.template;
    progress(&format!("seeding {} chunks into {name}", setup.chunks));
    let mut admin = connect(&a.dsn_base, "postgres")?;
    exec(&mut admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    exec(&mut admin, &format!("CREATE DATABASE {name}"))?;
    let mut c = connect(&a.dsn_base, name)?;
    exec(&mut c, "CREATE EXTENSION rag_search CASCADE")?;
    if !keep_hnsw {
        exec(&mut c, "DROP INDEX rag_search.chunks_embedding_hnsw")?;
    }
    let mut start = 0;
    while start < setup.chunks {
        let end = (start + 1000).min(setup.chunks);
        let docs: Vec<serde_json::Value> = (start..end)
            .map(|i| serde_json::json!({"doc_id": format!("bench:{i}"), "title": format!("Title {i}"), "content": chunk_text(i)}))
            .collect();
        let json = serde_json::Value::Array(docs).to_string();
        c.execute("SELECT count(*) FROM rag_upsert_documents($1::text::jsonb)", &[&json])
            .map_err(|e| format!("seed: {e}"))?;
        start = end;
    }
    let n: i64 = c
        .query_one("SELECT count(*) FROM rag_search.chunks", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    if n as usize != setup.chunks {
        return Err(format!("seeded {n} chunks, expected {} (one per document)", setup.chunks));
    }
    exec(&mut c, "VACUUM ANALYZE")?;
    drop(c);
    Ok(())
}

/// A fresh copy of the seeded database, pointed at the fixture.
fn fresh_db(a: &Args, setup: &Setup, name: &str) -> R<Client> {
    let mut admin = connect(&a.dsn_base, "postgres")?;
    exec(&mut admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    exec(&mut admin, &format!("CREATE DATABASE {name} TEMPLATE {}", setup.template))?;
    exec(&mut admin, &format!("ALTER DATABASE {name} SET rag_search.embedding_url = '{}'", a.fixture_url))?;
    connect(&a.dsn_base, name)
}

fn drop_db(a: &Args, name: &str) -> R<()> {
    let mut admin = connect(&a.dsn_base, "postgres")?;
    exec(&mut admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
}

fn check_complete(c: &mut Client, n: usize, what: &str) -> R<()> {
    let done: i64 = c
        .query_one("SELECT count(embedding) FROM rag_search.chunks", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    if done as usize != n {
        return Err(format!("{what}: {done} of {n} chunks embedded"));
    }
    Ok(())
}

struct Measured {
    name: String,
    batch: i64,
    seconds: f64,
    chunks: usize,
    /// Seconds to build the HNSW index afterwards (deferred-index runs).
    index_build: Option<f64>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.chunks as f64 / self.seconds
    }
}

/// How a worker run is set up.
#[derive(Clone, Copy)]
enum WorkerRun {
    /// `rag_backfill_start(batch_size => n)`; builds the HNSW index
    /// afterwards when the table has none (deferred-index tables).
    Argument,
    /// The rag_search.backfill_batch_size setting of the starting session
    /// (the sweep; repeat number), no index build.
    Setting(usize),
}

fn worker_run(a: &Args, setup: &Setup, batch: i64, how: WorkerRun) -> R<Measured> {
    let (db, start) = match how {
        WorkerRun::Argument => (
            format!("{}_worker_{batch}", setup.template),
            format!("SELECT * FROM rag_backfill_start(mode => 'bootstrap', batch_size => {batch}, batch_sleep_ms => 0, report_every => 1000)"),
        ),
        WorkerRun::Setting(repeat) => (
            format!("{}_worker_{batch}_{repeat}", setup.template),
            format!(
                "SET rag_search.backfill_batch_size = {batch};
                 SELECT * FROM rag_backfill_start(mode => 'bootstrap', batch_sleep_ms => 0, report_every => 1000)"
            ),
        ),
    };
    let mut c = fresh_db(a, setup, &db)?;
    progress(&format!("{}: worker, batch {batch}", setup.template));
    exec(&mut c, &start)?;
    let deadline = Instant::now() + Duration::from_secs(3600);
    // Poll the recorded state only: cheap, so the polling does not compete
    // with the worker for the CPU.
    loop {
        let state: String = c
            .query_one("SELECT state FROM rag_search.backfill_state", &[])
            .map_err(|e| e.to_string())?
            .get(0);
        if state != "running" && state != "starting" {
            break;
        }
        if Instant::now() > deadline {
            return Err("worker did not finish".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Server-side duration: from the worker's start to its exit.
    let row = c
        .query_one(
            "SELECT extract(epoch FROM stopped_at - started_at)::float8, batch_size FROM rag_search.backfill_state",
            &[],
        )
        .map_err(|e| e.to_string())?;
    let (secs, used): (f64, i32) = (row.get(0), row.get(1));
    if i64::from(used) != batch {
        return Err(format!("the worker ran with batch size {used}, not {batch}"));
    }
    check_complete(&mut c, setup.chunks, "worker")?;
    let has_hnsw: bool = c
        .query_one("SELECT to_regclass('rag_search.chunks_embedding_hnsw') IS NOT NULL", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    let mut index_build = None;
    if !has_hnsw && matches!(how, WorkerRun::Argument) {
        progress("building the HNSW index over the filled table");
        let t = Instant::now();
        // The extension's own definition (an expression index at the
        // recorded dimension).
        exec(&mut c, "SELECT rag_search.embedding_index_rebuild(embedding_dim) FROM rag_search.index_state")?;
        index_build = Some(t.elapsed().as_secs_f64());
    }
    drop(c);
    drop_db(a, &db)?;
    Ok(Measured {
        name: "background worker (rag_backfill_start)".into(),
        batch,
        seconds: secs,
        chunks: setup.chunks,
        index_build,
    })
}

fn step_loop(a: &Args, setup: &Setup, batch: i32) -> R<Measured> {
    let db = format!("{}_step_{batch}", setup.template);
    let mut c = fresh_db(a, setup, &db)?;
    progress(&format!("{}: rag_backfill_step loop, batch {batch}", setup.template));
    let started = Instant::now();
    loop {
        let remaining: i64 = c
            .query_one("SELECT remaining FROM rag_backfill_step($1)", &[&batch])
            .map_err(|e| e.to_string())?
            .get(0);
        if remaining == 0 {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    check_complete(&mut c, setup.chunks, "step loop")?;
    drop(c);
    drop_db(a, &db)?;
    Ok(Measured { name: "rag_backfill_step in a client loop".into(), batch: batch.into(), seconds: secs, chunks: setup.chunks, index_build: None })
}

fn clientside_run(a: &Args, setup: &Setup, batch: i64, per_row: bool) -> R<Measured> {
    let db = format!("{}_client_{batch}{}", setup.template, if per_row { "_rows" } else { "" });
    let mut c = fresh_db(a, setup, &db)?;
    progress(&format!("{}: client-side program, batch {batch}, per row: {per_row}", setup.template));
    let mut cmd = Command::new(&a.clientside);
    cmd.args(["--dsn", &format!("{} dbname={db}", a.dsn_base), "--url", &a.fixture_url])
        .args(["--dim", &DIM.to_string(), "--batch", &batch.to_string(), "--model", MODEL]);
    if per_row {
        cmd.arg("--per-row");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("run {}: {e}", a.clientside))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("clientside_backfill failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    // "embedded N chunks in S s"
    let secs: f64 = stdout
        .split_whitespace()
        .nth(4)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("unexpected output: {stdout}"))?;
    check_complete(&mut c, setup.chunks, "client-side")?;
    drop(c);
    drop_db(a, &db)?;
    let name = if per_row {
        "client-side program, one UPDATE per chunk (clientside_backfill --per-row)"
    } else {
        "client-side program, one UPDATE per batch (clientside_backfill)"
    };
    Ok(Measured { name: name.into(), batch, seconds: secs, chunks: setup.chunks, index_build: None })
}

/// The same writes with the vectors already at hand: one UPDATE per batch
/// of ids, each batch its own transaction.
fn raw_update(a: &Args, setup: &Setup, batch: i64) -> R<Measured> {
    let db = format!("{}_raw_{batch}", setup.template);
    let mut c = fresh_db(a, setup, &db)?;
    progress(&format!("{}: raw UPDATE ceiling, batch {batch}", setup.template));
    exec(
        &mut c,
        &format!(
            "CREATE UNLOGGED TABLE public.bench_vectors AS
             SELECT id, (SELECT array_agg(random() - 0.5) FROM generate_series(1, {DIM}) WHERE c.id > 0)::vector({DIM}) AS embedding
             FROM rag_search.chunks AS c;
             CREATE UNIQUE INDEX ON public.bench_vectors (id);
             ANALYZE public.bench_vectors;
             CREATE PROCEDURE public.bench_raw_update(batch bigint) LANGUAGE plpgsql AS $$
             DECLARE lo bigint; hi bigint; top bigint;
             BEGIN
                 SELECT min(id), max(id) INTO lo, top FROM rag_search.chunks;
                 WHILE lo <= top LOOP
                     hi := lo + batch - 1;
                     UPDATE rag_search.chunks AS c
                     SET embedding = v.embedding, embedding_model = '{MODEL}', embedding_dim = {DIM}, embedded_at = now()
                     FROM public.bench_vectors AS v
                     WHERE c.id = v.id AND c.id BETWEEN lo AND hi;
                     COMMIT;
                     lo := hi + 1;
                 END LOOP;
             END $$;"
        ),
    )?;
    let started = Instant::now();
    c.execute("CALL public.bench_raw_update($1)", &[&batch]).map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    check_complete(&mut c, setup.chunks, "raw update")?;
    drop(c);
    drop_db(a, &db)?;
    Ok(Measured { name: "raw `UPDATE … SET embedding` (vectors precomputed)".into(), batch, seconds: secs, chunks: setup.chunks, index_build: None })
}

/// The fixture alone: the same requests from this process, no database.
fn embedder_only(a: &Args, batch: usize, chunks: usize) -> R<Measured> {
    progress(&format!("embedder alone, batch {batch}"));
    let mut client = EmbedClient::new(EmbedConfig {
        url: a.fixture_url.clone(),
        provider: Provider::Ollama,
        model: MODEL.into(),
        dimension: DIM,
        timeout: Duration::from_secs(120),
        max_chars: 2000,
        api_key: None,
    });
    let texts: Vec<String> = (0..chunks).map(chunk_text).collect();
    let started = Instant::now();
    for part in texts.chunks(batch) {
        client.embed(part, &|| false).map_err(|e| e.to_string())?;
    }
    Ok(Measured {
        name: "embedder alone (HTTP + JSON + validation, no database)".into(),
        batch: batch as i64,
        seconds: started.elapsed().as_secs_f64(),
        chunks,
        index_build: None,
    })
}

struct StatusLatency {
    chunks: i64,
    embedded: i64,
    median_ms: f64,
    p95_ms: f64,
    max_ms: f64,
    count_star_ms: f64,
}

fn status_latency(a: &Args) -> R<StatusLatency> {
    let db = "bench_status";
    let mut admin = connect(&a.dsn_base, "postgres")?;
    exec(&mut admin, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))?;
    exec(&mut admin, &format!("CREATE DATABASE {db}"))?;
    let mut c = connect(&a.dsn_base, db)?;
    progress(&format!("status latency: loading {} chunks", a.status_chunks));
    let n = a.status_chunks as i64;
    // Status never reads the vectors: 8-dimensional ones keep the load
    // quick, and without the HNSW index half of them are written fast.
    exec(
        &mut c,
        &format!(
            "CREATE EXTENSION rag_search CASCADE;
             SELECT * FROM rag_set_embedding_model('bench-status', 8);
             DROP INDEX rag_search.chunks_embedding_hnsw;
             INSERT INTO rag_search.documents (doc_id, title, source_hash)
             SELECT 'status:' || i, 'Title ' || i, '\\x00' FROM generate_series(1, {n}) AS i;
             INSERT INTO rag_search.chunks (document_id, ordinal, content, content_hash)
             SELECT id, 0, 'short chunk ' || id, '\\x00' FROM rag_search.documents;"
        ),
    )?;
    progress("status latency: embedding half, failures, recent progress");
    exec(
        &mut c,
        "UPDATE rag_search.chunks
         SET embedding = ARRAY[random(), random(), random(), random(), random(), random(), random(), random()]::vector,
             embedding_model = 'bench-status', embedding_dim = 8, embedded_at = now()
         WHERE id % 2 = 0;
         SELECT * FROM rag_backfill_recount();
         INSERT INTO rag_search.backfill_failures
             (chunk_id, embedding_model, embedding_dim, content_hash, attempts, error_kind, last_error, next_retry_at, parked)
         SELECT id, 'bench-status', 8, content_hash, 5, 'http', 'HTTP 500', NULL, true
         FROM rag_search.chunks WHERE id % 2 = 1 LIMIT 1000;
         -- An active backfill: a minute of batch deltas (the rate window),
         -- balanced by an old row so that the totals stay right.
         INSERT INTO rag_search.chunk_counts (at, chunks, embedded)
         SELECT clock_timestamp() - (i * interval '10 milliseconds'), 0, 64 FROM generate_series(1, 6000) AS i;
         INSERT INTO rag_search.chunk_counts (at, chunks, embedded)
         VALUES (clock_timestamp() - interval '1 hour', 0, -6000 * 64);",
    )?;
    exec(&mut c, "VACUUM ANALYZE")?;
    let embedded: i64 = c
        .query_one("SELECT embedded FROM rag_backfill_status()", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    let stmt = c.prepare("SELECT * FROM rag_backfill_status()").map_err(|e| e.to_string())?;
    for _ in 0..5 {
        c.query(&stmt, &[]).map_err(|e| e.to_string())?;
    }
    let mut samples = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        c.query(&stmt, &[]).map_err(|e| e.to_string())?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let t = Instant::now();
    c.query_one("SELECT count(*), count(embedding) FROM rag_search.chunks", &[]).map_err(|e| e.to_string())?;
    let count_star_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(c);
    exec(&mut admin, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))?;
    Ok(StatusLatency {
        chunks: n,
        embedded,
        median_ms: samples[samples.len() / 2],
        p95_ms: samples[samples.len() * 95 / 100],
        max_ms: samples[samples.len() - 1],
        count_star_ms,
    })
}

struct Table {
    setup: Setup,
    worker64: Measured,
    worker256: Measured,
    step256: Measured,
    client64: Measured,
    client256: Measured,
    client256_rows: Measured,
    raw256: Measured,
}

fn measure_table(a: &Args, setup: Setup, keep_hnsw: bool) -> R<Table> {
    seed_template(a, &setup, keep_hnsw)?;
    let t = Table {
        worker64: worker_run(a, &setup, 64, WorkerRun::Argument)?,
        worker256: worker_run(a, &setup, 256, WorkerRun::Argument)?,
        step256: step_loop(a, &setup, 256)?,
        client64: clientside_run(a, &setup, 64, false)?,
        client256: clientside_run(a, &setup, 256, false)?,
        client256_rows: clientside_run(a, &setup, 256, true)?,
        raw256: raw_update(a, &setup, 256)?,
        setup,
    };
    drop_db(a, t.setup.template)?;
    Ok(t)
}

/// One batch size of the sweep.
struct SweepPoint {
    batch: i64,
    /// Worker chunks/s of every repeat, ascending.
    worker: Vec<f64>,
    raw: Measured,
    embedder: Measured,
}

impl SweepPoint {
    fn worker_median(&self) -> f64 {
        let n = self.worker.len();
        if n % 2 == 1 {
            self.worker[n / 2]
        } else {
            (self.worker[n / 2 - 1] + self.worker[n / 2]) / 2.0
        }
    }
}

/// The worker at every batch size of `--sweep-batches` on one seeded
/// database without the HNSW index, repeats interleaved (every batch size
/// once, then again), with the raw UPDATE ceiling and the embedder alone at
/// the same batch sizes.
fn batch_sweep(a: &Args) -> R<Vec<SweepPoint>> {
    let setup = Setup { template: "bench_sweep", chunks: a.sweep_chunks };
    seed_template(a, &setup, false)?;
    let mut points = Vec::new();
    for &batch in &a.sweep_batches {
        points.push(SweepPoint {
            batch: batch as i64,
            worker: Vec::new(),
            raw: raw_update(a, &setup, batch as i64)?,
            embedder: embedder_only(a, batch, a.sweep_chunks)?,
        });
    }
    for repeat in 0..a.sweep_repeats {
        for p in &mut points {
            p.worker.push(worker_run(a, &setup, p.batch, WorkerRun::Setting(repeat))?.rate());
        }
    }
    for p in &mut points {
        p.worker.sort_by(f64::total_cmp);
    }
    drop_db(a, setup.template)?;
    Ok(points)
}

fn sweep_md(md: &mut String, a: &Args, points: &[SweepPoint]) {
    md.push_str(&format!(
        "### C. Worker batch size (`rag_search.backfill_batch_size`), HNSW deferred ({} chunks)\n\n\
         The same setup as A on {} chunks: the worker started with `SET rag_search.backfill_batch_size = n` \
         and no `batch_size` argument (the run's recorded batch size is checked), {} runs per batch size, \
         interleaved (every size once, then again); the raw `UPDATE` ceiling and the embedder alone at the \
         same batch sizes, once each. No index build afterwards.\n\n\
         | batch size | worker chunks/s (median) | worker min–max | raw UPDATE chunks/s | worker ÷ raw | embedder alone chunks/s |\n\
         |---:|---:|---:|---:|---:|---:|\n",
        a.sweep_chunks, a.sweep_chunks, a.sweep_repeats
    ));
    for p in points {
        md.push_str(&format!(
            "| {} | {:.0} | {:.0}–{:.0} | {:.0} | {:.0}% | {:.0} |\n",
            p.batch,
            p.worker_median(),
            p.worker[0],
            p.worker[p.worker.len() - 1],
            p.raw.rate(),
            100.0 * p.worker_median() / p.raw.rate(),
            p.embedder.rate()
        ));
    }
    if let Some(best) = points.iter().max_by(|x, y| x.worker_median().total_cmp(&y.worker_median())) {
        md.push_str(&format!(
            "\nFastest worker batch size in this run: **{}** ({:.0} chunks/s median).\n",
            best.batch,
            best.worker_median()
        ));
    }
    md.push_str("\n![backfill chunks/s versus batch size](bench/charts/backfill_batch_size.svg)\n\n");
}

fn sweep_chart(a: &Args, points: &[SweepPoint]) -> LineChart {
    let line = |name: &str, color: usize, dashed: bool, rate: &dyn Fn(&SweepPoint) -> f64| Series {
        name: name.to_string(),
        color,
        dashed,
        points: points.iter().map(|p| (p.batch as f64, rate(p))).collect(),
    };
    LineChart {
        title: format!(
            "Embedding backfill vs batch size, {} chunks × {DIM}-d, fixture embedder, HNSW deferred",
            a.sweep_chunks
        ),
        x_label: "rag_search.backfill_batch_size (log scale)".to_string(),
        y_label: "chunks per second".to_string(),
        series: vec![
            line(&format!("background worker (median of {})", a.sweep_repeats), 0, false, &|p| p.worker_median()),
            line("raw UPDATE ceiling", 2, true, &|p| p.raw.rate()),
        ],
        x_log: true,
        y_log: false,
        point_labels: true,
    }
}

fn table_md(md: &mut String, t: &Table, extra: Option<&Measured>) {
    md.push_str("| method | batch | seconds | chunks/s |\n|---|---:|---:|---:|\n");
    let rows = [&t.worker64, &t.worker256, &t.step256, &t.client64, &t.client256, &t.client256_rows, &t.raw256];
    for m in extra.into_iter().chain(rows) {
        md.push_str(&format!("| {} | {} | {:.2} | {:.0} |\n", m.name, m.batch, m.seconds, m.rate()));
    }
    if let Some(build) = t.worker256.index_build {
        let total = t.worker256.seconds + build;
        md.push_str(&format!(
            "| … then `CREATE INDEX … USING hnsw` over the {} vectors | | {:.2} | |\n\
             | worker (batch 256) + index build, end to end | 256 | {:.2} | {:.0} |\n",
            t.setup.chunks,
            build,
            total,
            t.setup.chunks as f64 / total
        ));
    }
    md.push_str(&format!(
        "\nAt batch 256: worker ÷ client-side program **{:.2}×** (one UPDATE per batch) and **{:.2}×** \
         (one UPDATE per chunk); worker ÷ raw UPDATE **{:.0}%**; rag_backfill_step loop ÷ client-side \
         program {:.2}×.\n\n",
        t.worker256.rate() / t.client256.rate(),
        t.worker256.rate() / t.client256_rows.rate(),
        100.0 * t.worker256.rate() / t.raw256.rate(),
        t.step256.rate() / t.client256.rate(),
    ));
}

fn run(a: &Args) -> R<String> {
    let embedder = embedder_only(a, 256, a.chunks)?;
    let deferred = measure_table(a, Setup { template: "bench_noidx", chunks: a.chunks }, false)?;
    let shipped = if a.hnsw_chunks > 0 {
        Some(measure_table(a, Setup { template: "bench_hnsw", chunks: a.hnsw_chunks }, true)?)
    } else {
        None
    };
    let sweep = if a.sweep_chunks > 0 { Some(batch_sweep(a)?) } else { None };
    let status = if a.status_chunks > 0 { Some(status_latency(a)?) } else { None };

    let mut md = String::new();
    md.push_str(&format!(
        "Chunks of ~1,000 characters (one per document), {DIM} dimensions. Fixture embedder: \
         `fixture-embedder --native-dim {DIM}` (release build, answers at once). Every row of a table \
         starts from a copy of the same seeded database; seconds are wall time of the whole backfill \
         (worker: server-side, from its start to its exit).\n\n"
    ));
    md.push_str(&format!(
        "### A. HNSW index deferred ({} chunks)\n\nThe HNSW index is dropped before the backfill and \
         built once afterwards (the usual bulk-load practice); the chunks' other indexes (tsvector \
         GIN, (document_id, ordinal), the partial index of chunks without an embedding) are maintained.\n\n",
        deferred.setup.chunks
    ));
    table_md(&mut md, &deferred, Some(&embedder));
    if let Some(t) = &shipped {
        md.push_str(&format!(
            "### B. Schema as shipped: HNSW maintained on every write ({} chunks)\n\n",
            t.setup.chunks
        ));
        table_md(&mut md, t, None);
    }
    if let Some(points) = &sweep {
        sweep_md(&mut md, a, points);
        if let Some(path) = &a.sweep_chart {
            std::fs::write(path, sweep_chart(a, points).to_svg()).map_err(|e| format!("write {path}: {e}"))?;
        }
    }
    let w = &deferred;
    let best = w.worker64.rate().max(w.worker256.rate());
    md.push_str(&format!(
        "### Targets\n\n| target | measured | met |\n|---|---|:---:|\n\
         | ≥ 5,000 chunks/s (2 cores, 1024 dims) | {:.0} chunks/s (A, best worker run){} | {} |\n\
         | ≥ 3× the client-side program | {:.2}× vs. one UPDATE per batch, {:.2}× vs. one per chunk (A, batch 256){} | {} |\n\
         | ≥ 50% of the raw UPDATE ceiling | {:.0}% (A, batch 256){} | {} |\n",
        best,
        shipped.as_ref().map(|t| format!("; {:.0} chunks/s (B)", t.worker64.rate().max(t.worker256.rate()))).unwrap_or_default(),
        yes(best >= 5000.0),
        w.worker256.rate() / w.client256.rate(),
        w.worker256.rate() / w.client256_rows.rate(),
        shipped.as_ref().map(|t| format!("; {:.2}× (B)", t.worker256.rate() / t.client256.rate())).unwrap_or_default(),
        yes(w.worker256.rate() >= 3.0 * w.client256.rate()),
        100.0 * w.worker256.rate() / w.raw256.rate(),
        shipped.as_ref().map(|t| format!("; {:.0}% (B)", 100.0 * t.worker256.rate() / t.raw256.rate())).unwrap_or_default(),
        yes(w.worker256.rate() >= 0.5 * w.raw256.rate()),
    ));
    if let Some(s) = status {
        md.push_str(&format!(
            "| status < 100 ms at {} chunks | median {:.2} ms, p95 {:.2} ms, max {:.2} ms (50 calls) | {} |\n\n\
             Status table: {} chunks, {} embedded, 1,000 parked failures, 6,000 recent counter deltas. \
             For comparison, `SELECT count(*), count(embedding)` over the chunks took {:.0} ms.\n",
            s.chunks,
            s.median_ms,
            s.p95_ms,
            s.max_ms,
            yes(s.p95_ms < 100.0),
            s.chunks,
            s.embedded,
            s.count_star_ms
        ));
    }
    Ok(md)
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("backfill_bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(md) => {
            print!("{md}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("backfill_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(worker: Vec<f64>) -> SweepPoint {
        let measured = |seconds| Measured { name: String::new(), batch: 8, seconds, chunks: 100, index_build: None };
        SweepPoint { batch: 8, worker, raw: measured(0.05), embedder: measured(0.01) }
    }

    #[test]
    fn worker_median_of_odd_and_even_repeats() {
        assert_eq!(point(vec![100.0, 200.0, 900.0]).worker_median(), 200.0);
        assert_eq!(point(vec![100.0, 200.0]).worker_median(), 150.0);
        assert_eq!(point(vec![42.0]).worker_median(), 42.0);
    }

    #[test]
    fn sweep_section_has_a_row_per_batch_size_and_links_its_chart() {
        let a = Args {
            dsn_base: String::new(),
            fixture_url: String::new(),
            clientside: String::new(),
            chunks: 0,
            hnsw_chunks: 0,
            status_chunks: 0,
            sweep_chunks: 100,
            sweep_batches: vec![8, 64],
            sweep_repeats: 2,
            sweep_chart: None,
        };
        let mut fast = point(vec![500.0, 700.0]);
        fast.batch = 64;
        let points = [point(vec![100.0, 300.0]), fast];
        let mut md = String::new();
        sweep_md(&mut md, &a, &points);
        assert!(md.contains("| 8 | 200 | 100–300 | 2000 | 10% | 10000 |"), "{md}");
        assert!(md.contains("| 64 | 600 | 500–700 |"), "{md}");
        assert!(md.contains("Fastest worker batch size in this run: **64**"));
        assert!(md.contains("(bench/charts/backfill_batch_size.svg)"));
        let svg = sweep_chart(&a, &points).to_svg();
        assert_eq!(svg.matches("<polyline").count(), 2);
    }
}
