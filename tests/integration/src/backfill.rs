//! Helpers for the embedding backfill tests: seeding chunks, pointing a
//! database at a fixture embedder, reading rag_backfill_status(), waiting
//! with a bound, and an audit of embedding writes.

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use fixture_embedder::{FixtureConfig, FixtureServer};
use postgres::Client;

/// Dimension the backfill tests store (small keeps debug builds fast);
/// the fixture answers longer vectors, so truncation is exercised too.
pub const TEST_DIM: usize = 64;
pub const TEST_NATIVE_DIM: usize = 128;
pub const TEST_MODEL: &str = "qwen3-embedding:8b";

/// The small dimension of the security, backup and upgrade tests; their
/// fixture answers SMALL_NATIVE_DIM components.
pub const SMALL_DIM: usize = 8;
pub const SMALL_NATIVE_DIM: usize = 16;

/// A fixture embedder answering SMALL_NATIVE_DIM components.
pub fn start_small_fixture() -> FixtureServer {
    FixtureServer::start(FixtureConfig { native_dim: SMALL_NATIVE_DIM, dim: SMALL_DIM, ..FixtureConfig::default() })
        .expect("start fixture embedder")
}

/// Points every new session of `db` (and its worker) at `fixture`, with
/// query template `{text}`.
pub fn point_at(client: &mut Client, db: &str, fixture: &FixtureServer) {
    point_at_url(client, db, &fixture.url());
}

/// Points every new session of `db` (and its worker) at the embedding
/// server at `url`, with query template `{text}`.
pub fn point_at_url(client: &mut Client, db: &str, url: &str) {
    set_db(client, db, &[("rag_search.embedding_url", &format!("'{url}'")), ("rag_search.query_template", "'{text}'")]);
}

/// For the benchmark programs: database `db` on the cluster of `dsn_base`
/// (a DSN without dbname) created afresh with the extension and pointed at
/// the embedding server at `url`; returns its DSN.
pub fn fresh_database_at(dsn_base: &str, db: &str, url: &str) -> String {
    let mut admin = crate::connect_dsn(&format!("{dsn_base} dbname=postgres"));
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).expect("drop database");
    admin.batch_execute(&format!("CREATE DATABASE {db}")).expect("create database");
    let dsn = format!("{dsn_base} dbname={db}");
    let mut c = crate::connect_dsn(&dsn);
    c.batch_execute("CREATE EXTENSION rag_search CASCADE").expect("CREATE EXTENSION rag_search CASCADE");
    point_at_url(&mut c, db, url);
    dsn
}

/// A fixture embedder answering TEST_NATIVE_DIM-dimensional vectors.
pub fn start_fixture() -> FixtureServer {
    FixtureServer::start(FixtureConfig { native_dim: TEST_NATIVE_DIM, dim: TEST_DIM, ..FixtureConfig::default() })
        .expect("start fixture embedder")
}

/// Switches `db` to TEST_DIM dimensions and points it (all future
/// sessions, the worker included) at `url`, with short retry and backoff
/// pauses so that the tests run quickly. Returns a fresh connection that
/// sees the settings.
pub fn configure(client: &mut Client, dsn: &str, db: &str, url: &str) -> Client {
    client
        .batch_execute(&format!("SELECT * FROM rag_set_embedding_model('{TEST_MODEL}', {TEST_DIM})"))
        .expect("switch dimension");
    set_db(client, db, &[
        ("rag_search.embedding_url", &format!("'{url}'")),
        ("rag_search.embedding_timeout", "'3s'"),
        ("rag_search.backfill_retry_delay", "'100ms'"),
        ("rag_search.backfill_retry_max_delay", "'400ms'"),
        ("rag_search.backfill_max_attempts", "3"),
        ("rag_search.backfill_backoff_min", "'200ms'"),
        ("rag_search.backfill_backoff_max", "'800ms'"),
        ("rag_search.backfill_poll_interval", "'200ms'"),
    ]);
    crate::connect_dsn(dsn)
}

/// ALTER DATABASE db SET name = value, for each pair (values are SQL literals).
pub fn set_db(client: &mut Client, db: &str, settings: &[(&str, &str)]) {
    for (name, value) in settings {
        client.batch_execute(&format!("ALTER DATABASE {db} SET {name} = {value}")).expect("ALTER DATABASE SET");
    }
}

/// Inserts `n` one-chunk documents `{prefix}:{i}` (i from 1) through the
/// bulk ingestion API; returns the number of chunks.
pub fn seed_chunks(client: &mut Client, prefix: &str, n: usize) -> i64 {
    let mut inserted = 0;
    let mut start = 1;
    while start <= n {
        let end = (start + 999).min(n);
        let row = client
            .query_one(
                "SELECT sum(chunks)::bigint FROM rag_upsert_documents((
                     SELECT jsonb_agg(jsonb_build_object(
                         'doc_id', $1 || ':' || i, 'title', 'Title ' || i,
                         'content', 'Chunk text number ' || i || ' of ' || $1 || '.'))
                     FROM generate_series($2::int, $3::int) AS i))",
                &[&prefix, &(start as i32), &(end as i32)],
            )
            .expect("seed chunks");
        inserted += row.get::<_, i64>(0);
        start = end + 1;
    }
    inserted
}

/// The text the backfill sends for a seeded chunk (default template).
pub fn seeded_text(prefix: &str, i: usize) -> String {
    format!("Chunk text number {i} of {prefix}.")
}

/// Runs rag_backfill_step(batch) until it claims nothing (everything is
/// embedded, parked or waiting for a retry); returns (embedded, failed)
/// over all calls.
pub fn step_until_idle(client: &mut Client, batch: i32) -> (i64, i64) {
    let (mut embedded, mut failed) = (0i64, 0i64);
    for _ in 0..10_000 {
        let r = client
            .query_one("SELECT claimed, embedded, failed FROM rag_backfill_step($1)", &[&batch])
            .expect("rag_backfill_step");
        let claimed: i32 = r.get(0);
        embedded += i64::from(r.get::<_, i32>(1));
        failed += i64::from(r.get::<_, i32>(2));
        if claimed == 0 {
            return (embedded, failed);
        }
    }
    panic!("rag_backfill_step keeps claiming chunks");
}

/// One row of rag_backfill_status().
#[derive(Debug, Clone)]
pub struct Status {
    pub total: i64,
    pub embedded: i64,
    pub missing: i64,
    pub failed: i64,
    pub retrying: i64,
    pub coverage_pct: String,
    pub state: String,
    pub mode: String,
    pub pid: Option<i32>,
    pub batches_done: i64,
    pub last_error: Option<String>,
    pub stop_reason: Option<String>,
    pub model: String,
    pub dimension: i32,
}

pub fn status(client: &mut Client) -> Status {
    let r = client
        .query_one(
            "SELECT total, embedded, missing, failed, retrying, coverage_pct::text, state, mode, pid,
                    batches_done, last_error, stop_reason, model, dimension
             FROM rag_backfill_status()",
            &[],
        )
        .expect("rag_backfill_status()");
    Status {
        total: r.get(0),
        embedded: r.get(1),
        missing: r.get(2),
        failed: r.get(3),
        retrying: r.get(4),
        coverage_pct: r.get(5),
        state: r.get(6),
        mode: r.get(7),
        pid: r.get(8),
        batches_done: r.get(9),
        last_error: r.get(10),
        stop_reason: r.get(11),
        model: r.get(12),
        dimension: r.get(13),
    }
}

/// The pid of the backend of database `db` whose query contains `query`
/// once it waits for an advisory lock (a test holds it to pause the
/// backend at a chosen point, e.g. before it commits); panics after `limit`.
pub fn backend_waiting_for_advisory_lock(c: &mut Client, db: &str, query: &str, limit: Duration) -> i32 {
    let pattern = format!("%{query}%");
    let mut pid = None;
    let found = wait_until(limit, || {
        pid = c
            .query_opt(
                "SELECT pid FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'
                   AND query LIKE $2 AND datname = $1",
                &[&db, &pattern],
            )
            .expect("read pg_stat_activity")
            .map(|r| r.get(0));
        pid.is_some()
    });
    assert!(found, "no backend running {query} reached the pause");
    pid.expect("pid")
}

/// Polls `cond` every 50 ms until it holds; false after `limit`. The limit
/// only keeps a broken build from hanging the suite.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the worker of the connected database reports `state`;
/// panics with the last status after `limit`.
pub fn wait_for_state(client: &mut Client, state: &str, limit: Duration) -> Status {
    let mut last = status(client);
    let ok = wait_until(limit, || {
        last = status(client);
        last.state == state
    });
    assert!(ok, "worker never reached state {state}: {last:?}");
    last
}

/// Records every embedding write (test-side trigger), so a test can prove
/// that no chunk was embedded twice for the same model.
pub fn install_write_audit(client: &mut Client) {
    client
        .batch_execute(
            "CREATE TABLE public.embedding_writes (
                 chunk_id bigint NOT NULL, model text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
             CREATE FUNCTION public.audit_embedding_write() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO public.embedding_writes (chunk_id, model) VALUES (NEW.id, NEW.embedding_model);
                 RETURN NEW;
             END $$;
             CREATE TRIGGER audit_embedding_write AFTER UPDATE OF embedding ON rag_search.chunks
                 FOR EACH ROW WHEN (NEW.embedding IS NOT NULL)
                 EXECUTE FUNCTION public.audit_embedding_write();",
        )
        .expect("install write audit");
}

/// (chunks written at least once for `model`, chunks written more than once).
pub fn audit_summary(client: &mut Client, model: &str) -> (i64, i64) {
    let r = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE n > 1)
             FROM (SELECT chunk_id, count(*) AS n FROM public.embedding_writes WHERE model = $1 GROUP BY chunk_id) s",
            &[&model],
        )
        .expect("read write audit");
    (r.get(0), r.get(1))
}

/// Every chunk has an embedding of `model` and each stored vector is what
/// the fixture returns for the chunk's text, truncated and normalised.
pub fn assert_vectors_match_fixture(client: &mut Client, model: &str, dim: usize) {
    let rows = client
        .query(
            "SELECT content, embedding, embedding_model, embedding_dim FROM rag_search.chunks ORDER BY id",
            &[],
        )
        .expect("read embeddings");
    assert!(!rows.is_empty());
    for r in rows {
        let content: String = r.get(0);
        let v: Option<pgvector::Vector> = r.get(1);
        let m: Option<String> = r.get(2);
        let d: Option<i32> = r.get(3);
        let v = v.unwrap_or_else(|| panic!("chunk {content:?} has no embedding"));
        assert_eq!(m.as_deref(), Some(model));
        assert_eq!(d, Some(dim as i32));
        let expected = fixture_embedder::expected_vector(content.trim(), TEST_NATIVE_DIM, dim);
        assert_eq!(v.to_vec(), expected, "vector of {content:?}");
    }
}

/// Chunks without an embedding, counted on the table itself.
pub fn missing_embeddings(client: &mut Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM rag_search.chunks WHERE embedding IS NULL", &[])
        .expect("count missing")
        .get(0)
}

/// A TCP server that accepts connections, counts them and closes them at
/// once: an embedding server that is "down" but countable.
pub struct ConnectionCounter {
    pub port: u16,
    count: Arc<AtomicU64>,
}

impl ConnectionCounter {
    pub fn start() -> ConnectionCounter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind counter");
        let port = listener.local_addr().expect("counter addr").port();
        let count = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&count);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                let mut s = stream;
                // Read a little of the request, then hang up without answering.
                let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf);
                drop(s);
            }
        });
        ConnectionCounter { port, count }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn connections(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

/// Pids of backfill worker processes connected to `db`.
pub fn worker_pids(client: &mut Client, db: &str) -> Vec<i32> {
    client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'rag_search backfill' AND datname = $1",
            &[&db],
        )
        .expect("list workers")
        .iter()
        .map(|r| r.get(0))
        .collect()
}
