//! The backfill background worker on a live cluster: bootstrap to 100%,
//! stop and resume, one worker per database, maintenance polling, backoff
//! without a busy loop, poison chunks.

use std::time::Duration;

use fixture_embedder::Fault;
use rag_search_integration::backfill::*;
use rag_search_integration::{shared_cluster, Client};

const LONG: Duration = Duration::from_secs(180);

fn setup(db: &str, n: usize) -> (Client, fixture_embedder::FixtureServer) {
    let cluster = shared_cluster();
    let mut c = cluster.new_database(db);
    let fixture = start_fixture();
    let mut c2 = configure(&mut c, &cluster.dsn(db), db, &fixture.url());
    if n > 0 {
        assert_eq!(seed_chunks(&mut c2, db, n), n as i64);
    }
    (c2, fixture)
}

struct Started {
    started: bool,
    pid: Option<i32>,
    state: String,
    mode: String,
    message: String,
}

fn start(c: &mut Client, args: &str) -> Started {
    let r = c
        .query_one(&format!("SELECT started, pid, state, mode, message FROM rag_backfill_start({args})"), &[])
        .expect("rag_backfill_start");
    Started { started: r.get(0), pid: r.get(1), state: r.get(2), mode: r.get(3), message: r.get(4) }
}

fn failures(c: &mut Client) -> i64 {
    c.query_one("SELECT count(*) FROM rag_search.backfill_failures", &[]).unwrap().get(0)
}

#[test]
fn bootstrap_fills_5000_chunks_to_100_percent_and_exits() {
    let db = "it_bfw_bootstrap";
    let (mut c, fixture) = setup(db, 5000);
    install_write_audit(&mut c);
    let s = start(&mut c, "mode => 'bootstrap', batch_size => 64, batch_sleep_ms => 5, report_every => 10");
    assert!(s.started, "{}", s.message);
    assert_eq!((s.state.as_str(), s.mode.as_str()), ("running", "bootstrap"));
    let pid = s.pid.expect("worker pid");
    assert_eq!(worker_pids(&mut c, db), vec![pid]);
    let running = status(&mut c);
    assert_eq!((running.state.as_str(), running.pid), ("running", Some(pid)));

    let done = wait_for_state(&mut c, "idle", LONG);
    assert_eq!((done.total, done.embedded, done.missing, done.failed), (5000, 5000, 0, 0));
    assert_eq!(done.coverage_pct, "100.00");
    assert_eq!(done.stop_reason.as_deref(), Some("finished"));
    assert_eq!(done.batches_done, 79, "5000 chunks in batches of 64");
    // The worker exited by itself.
    assert!(wait_until(Duration::from_secs(30), || worker_pids(&mut c, db).is_empty()));
    assert_eq!(missing_embeddings(&mut c), 0);
    assert_eq!(audit_summary(&mut c, TEST_MODEL), (5000, 0), "each chunk written exactly once");
    assert_eq!(fixture.inputs_embedded(), 5000, "no chunk sent twice");
    assert_eq!(fixture.requests(), 79);
    let log = shared_cluster().server_log();
    if !log.is_empty() {
        assert!(log.contains("rag_search backfill progress: 70 batches"), "progress lines every 10 batches");
        assert!(log.contains(&format!("worker (pid {pid}) exits (finished)")));
    }
    // Spot-check the stored vectors.
    let text = seeded_text(db, 4321);
    let v: pgvector::Vector =
        c.query_one("SELECT embedding FROM rag_search.chunks WHERE content = $1", &[&text]).unwrap().get(0);
    assert_eq!(v.to_vec(), fixture.expected(&text));
}

#[test]
fn stop_after_the_current_batch_then_resume_finishes() {
    let db = "it_bfw_stop";
    let (mut c, fixture) = setup(db, 3000);
    install_write_audit(&mut c);
    fixture.set_fault(Fault::Delay(Duration::from_millis(20)));
    let s = start(&mut c, "batch_size => 32, batch_sleep_ms => 10");
    assert!(s.started);
    assert!(wait_until(LONG, || status(&mut c).embedded >= 500));

    let r = c.query_one("SELECT stop_requested, pid, state FROM rag_backfill_stop()", &[]).unwrap();
    assert!(r.get::<_, bool>(0));
    assert_eq!(r.get::<_, Option<i32>>(1), s.pid);
    assert_eq!(r.get::<_, String>(2), "stopping");
    let stopped = wait_for_state(&mut c, "stopped", LONG);
    assert_eq!(stopped.stop_reason.as_deref(), Some("operator"));
    assert!(wait_until(Duration::from_secs(30), || worker_pids(&mut c, db).is_empty()));
    // The batch in flight was finished, not abandoned: only whole batches.
    assert_eq!(stopped.embedded % 32, 0, "{stopped:?}");
    assert!(stopped.embedded < 3000);
    assert_eq!(fixture.inputs_embedded() as i64, stopped.embedded, "nothing embedded and thrown away");
    // Coverage does not move while stopped.
    std::thread::sleep(Duration::from_millis(600));
    let still = status(&mut c);
    assert_eq!((still.embedded, still.state.as_str()), (stopped.embedded, "stopped"));
    let leased: i64 = c
        .query_one("SELECT cardinality(claimed_ids) FROM rag_search.backfill_state", &[])
        .unwrap()
        .get::<_, i32>(0)
        .into();
    assert_eq!(leased, 0);

    let r = c.query_one("SELECT started, mode FROM rag_backfill_resume()", &[]).unwrap();
    assert!(r.get::<_, bool>(0));
    assert_eq!(r.get::<_, String>(1), "bootstrap");
    let batch: i32 = c.query_one("SELECT batch_size FROM rag_search.backfill_state", &[]).unwrap().get(0);
    assert_eq!(batch, 32, "resume keeps the parameters of the run");
    let done = wait_for_state(&mut c, "idle", LONG);
    assert_eq!((done.embedded, done.missing, done.coverage_pct.as_str()), (3000, 0, "100.00"));
    assert_eq!(audit_summary(&mut c, TEST_MODEL), (3000, 0));
    assert_eq!(fixture.inputs_embedded(), 3000);
}

#[test]
fn one_worker_per_database() {
    let (mut a, fa) = setup("it_bfw_one_a", 400);
    let (mut b, fb) = setup("it_bfw_one_b", 400);
    fa.set_fault(Fault::Delay(Duration::from_millis(50)));
    fb.set_fault(Fault::Delay(Duration::from_millis(50)));
    let first = start(&mut a, "batch_size => 8, batch_sleep_ms => 0");
    assert!(first.started);
    let second = start(&mut a, "mode => 'maintenance'");
    assert!(!second.started);
    assert_eq!(second.pid, first.pid);
    assert_eq!(second.mode, "bootstrap", "reports the running worker");
    assert!(second.message.contains("already running"), "{}", second.message);
    let resumed = a.query_one("SELECT started, pid FROM rag_backfill_resume()", &[]).unwrap();
    assert!(!resumed.get::<_, bool>(0));
    assert_eq!(resumed.get::<_, Option<i32>>(1), first.pid);
    assert_eq!(worker_pids(&mut a, "it_bfw_one_a").len(), 1);
    // Another database has its own worker.
    let other = start(&mut b, "batch_size => 8, batch_sleep_ms => 0");
    assert!(other.started);
    assert_ne!(other.pid, first.pid);
    for c in [&mut a, &mut b] {
        c.batch_execute("SELECT * FROM rag_backfill_stop()").unwrap();
        wait_for_state(c, "stopped", LONG);
    }
}

#[test]
fn maintenance_mode_keeps_polling_for_new_chunks() {
    let db = "it_bfw_maintenance";
    let (mut c, fixture) = setup(db, 100);
    let s = start(&mut c, "mode => 'maintenance'");
    assert!(s.started);
    assert_eq!(s.mode, "maintenance");
    let batch: i32 = c.query_one("SELECT batch_size FROM rag_search.backfill_state", &[]).unwrap().get(0);
    assert_eq!(batch, 32, "maintenance defaults");
    assert!(wait_until(LONG, || status(&mut c).missing == 0));
    assert_eq!(status(&mut c).state, "running", "maintenance does not exit when done");
    // New and changed content is picked up by the next poll.
    c.batch_execute(&format!(
        "SELECT * FROM rag_upsert_document('{db}:new', 'New', 'A brand new chunk.');
         SELECT * FROM rag_upsert_document('{db}:1', 'Title 1', 'Changed text of document one.');"
    ))
    .unwrap();
    assert!(status(&mut c).missing >= 1);
    assert!(wait_until(LONG, || status(&mut c).missing == 0));
    let st = status(&mut c);
    assert_eq!((st.total, st.embedded, st.state.as_str()), (101, 101, "running"));
    assert_eq!(fixture.inputs_embedded(), 102);
    let v: pgvector::Vector = c
        .query_one("SELECT embedding FROM rag_search.chunks WHERE content = 'Changed text of document one.'", &[])
        .unwrap()
        .get(0);
    assert_eq!(v.to_vec(), fixture.expected("Changed text of document one."));
    // While idle it sends nothing.
    let before = fixture.requests();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(fixture.requests(), before);
    c.batch_execute("SELECT * FROM rag_backfill_stop()").unwrap();
    wait_for_state(&mut c, "stopped", LONG);
}

#[test]
fn failing_server_backs_off_without_a_busy_loop() {
    let db = "it_bfw_backoff";
    let (mut c, fixture) = setup(db, 300);
    fixture.set_fault(Fault::Http500);
    let s = start(&mut c, "batch_size => 64, batch_sleep_ms => 0");
    assert!(s.started);
    std::thread::sleep(Duration::from_secs(3));
    let requests = fixture.requests();
    // Backoff 200 ms doubling to 800 ms: about six attempts in 3 s, each a
    // batch and a probe. A busy loop would send thousands.
    assert!((2..=20).contains(&requests), "{requests} requests in 3 s");
    assert_eq!(failures(&mut c), 0, "no chunk is blamed for a broken server");
    let st = status(&mut c);
    assert_eq!((st.state.as_str(), st.embedded, st.missing), ("running", 0, 300));
    assert!(st.last_error.as_deref().unwrap_or("").contains("HTTP 500"), "{st:?}");
    let backoff: bool =
        c.query_one("SELECT backoff_until IS NOT NULL FROM rag_backfill_status()", &[]).unwrap().get(0);
    assert!(backoff);

    fixture.set_fault(Fault::None);
    let done = wait_for_state(&mut c, "idle", LONG);
    assert_eq!((done.embedded, done.missing, done.failed), (300, 0, 0));
    assert_eq!(fixture.inputs_embedded(), 300);
}

#[test]
fn worker_parks_a_poison_chunk_and_still_finishes() {
    let db = "it_bfw_poison";
    let (mut c, fixture) = setup(db, 500);
    c.batch_execute(&format!("SELECT * FROM rag_upsert_document('{db}:9', 'Title 9', 'Chunk nine. POISON')"))
        .unwrap();
    fixture.set_fault(Fault::Poison("POISON".into()));
    let s = start(&mut c, "batch_size => 64, batch_sleep_ms => 0");
    assert!(s.started);
    let done = wait_for_state(&mut c, "idle", LONG);
    assert_eq!((done.total, done.embedded, done.missing, done.failed), (500, 499, 0, 1));
    assert_eq!(done.coverage_pct, "99.80");
    let r = c.query_one("SELECT attempts, parked FROM rag_search.backfill_failures", &[]).unwrap();
    assert_eq!((r.get::<_, i32>(0), r.get::<_, bool>(1)), (3, true));
    // 8 batches, the poisoned one isolated with a probe and 2·6 halvings,
    // then two retries of the single chunk (chunk + probe each).
    assert_eq!(fixture.requests(), 8 + 1 + 12 + 2 * 2);
    assert_eq!(fixture.inputs_embedded(), 499 + 1 + 2, "probe texts aside, nothing embedded twice");
}
