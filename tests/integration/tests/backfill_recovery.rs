//! Backfill recovery on dedicated clusters: kill -9 of the worker, a server
//! restart, a worker started with the server (shared_preload_libraries),
//! and a configuration reload (SIGHUP) while the embedding server is down.

use std::process::Command;
use std::time::Duration;

use fixture_embedder::Fault;
use rag_search_integration::backfill::*;
use rag_search_integration::{connect_dsn, Client, Cluster, ClusterOptions};

const LONG: Duration = Duration::from_secs(180);
const DB: &str = "bf";

fn cluster(name: &str, options: ClusterOptions) -> Cluster {
    // Commits survive a crash restart: what the worker wrote stays written.
    Cluster::start(name, options.set("synchronous_commit", "on"))
}

fn prepared(cluster: &Cluster, n: usize) -> (Client, fixture_embedder::FixtureServer) {
    let mut c = cluster.new_database(DB);
    let fixture = start_fixture();
    let mut c = configure(&mut c, &cluster.dsn(DB), DB, &fixture.url());
    assert_eq!(seed_chunks(&mut c, DB, n), n as i64);
    install_write_audit(&mut c);
    (c, fixture)
}

fn start_worker(c: &mut Client, args: &str) -> i32 {
    let r = c.query_one(&format!("SELECT started, pid FROM rag_backfill_start({args})"), &[]).unwrap();
    assert!(r.get::<_, bool>(0));
    r.get::<_, Option<i32>>(1).expect("worker pid")
}

fn resume(c: &mut Client) {
    let r = c.query_one("SELECT started, message FROM rag_backfill_resume()", &[]).unwrap();
    assert!(r.get::<_, bool>(0), "{}", r.get::<_, String>(1));
}

/// Every chunk embedded once for the model, none lost, none twice.
fn assert_complete_once(c: &mut Client, n: i64) {
    let st = status(c);
    assert_eq!((st.total, st.embedded, st.missing, st.failed), (n, n, 0, 0), "{st:?}");
    assert_eq!(st.coverage_pct, "100.00");
    assert_eq!(missing_embeddings(c), 0);
    assert_eq!(audit_summary(c, TEST_MODEL), (n, 0), "each chunk written exactly once");
    let (real, counted): (i64, i64) = {
        let r = c.query_one("SELECT count(*), count(embedding) FROM rag_search.chunks", &[]).unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((real, counted), (n, n), "counters agree with the table");
}

#[test]
fn kill_9_of_the_worker_mid_batch_then_resume() {
    let mut cluster = cluster("bf_kill", ClusterOptions::new());
    let (mut c, fixture) = prepared(&cluster, 3000);
    // Slow answers: the worker spends its time waiting on the network.
    fixture.set_fault(Fault::Delay(Duration::from_millis(150)));
    let pid = start_worker(&mut c, "batch_size => 64, batch_sleep_ms => 0");
    assert!(wait_until(LONG, || status(&mut c).embedded >= 640));
    let requests_before = fixture.requests();
    assert!(wait_until(LONG, || fixture.requests() > requests_before), "a batch is in flight");
    let killed = Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
    assert!(killed.success());
    drop(c);
    // The postmaster restarts every backend after a crash: reconnect once
    // the restart is over (a session opened too early is cut off by it).
    let dsn = cluster.dsn(DB);
    let recovered = wait_until(LONG, || {
        postgres::Client::connect(&dsn, postgres::NoTls)
            .ok()
            .and_then(|mut c| c.query_one("SELECT state FROM rag_backfill_status()", &[]).ok())
            .is_some_and(|r| r.get::<_, String>(0) == "crashed")
    });
    assert!(recovered, "status never reported the crashed worker");
    let mut c = connect_dsn(&dsn);
    let crashed = status(&mut c);
    assert_eq!(crashed.state, "crashed");
    assert!(crashed.embedded >= 640 && crashed.embedded < 3000, "{crashed:?}");
    assert!(cluster.server_log().contains("terminated by signal 9"));

    resume(&mut c);
    wait_for_state(&mut c, "idle", LONG);
    assert_complete_once(&mut c, 3000);
    // The worker keeps two batches in flight (one embedding while the
    // previous one is written): at most those were embedded again.
    let sent = fixture.inputs_embedded();
    assert!((3000..=3000 + 2 * 64).contains(&sent), "at most the batches in flight were embedded again: {sent}");
    cluster.stop();
}

#[test]
fn server_restart_mid_run_then_resume() {
    let mut cluster = cluster("bf_restart", ClusterOptions::new());
    let (mut c, fixture) = prepared(&cluster, 3000);
    fixture.set_fault(Fault::Delay(Duration::from_millis(100)));
    start_worker(&mut c, "batch_size => 64, batch_sleep_ms => 0");
    assert!(wait_until(LONG, || status(&mut c).embedded >= 640));
    drop(c);
    cluster.restart();
    let mut c = connect_dsn(&cluster.dsn(DB));
    // The worker was told to shut down with the server: stopped, not crashed.
    let st = wait_for_state(&mut c, "stopped", LONG);
    assert_eq!(st.stop_reason.as_deref(), Some("terminated"));
    assert!(st.embedded < 3000);
    assert!(worker_pids(&mut c, DB).is_empty(), "a dynamic worker does not come back by itself");

    resume(&mut c);
    wait_for_state(&mut c, "idle", LONG);
    assert_complete_once(&mut c, 3000);
    let sent = fixture.inputs_embedded();
    assert!((3000..=3000 + 2 * 64).contains(&sent), "at most the batches in flight were embedded again: {sent}");
    cluster.stop();
}

#[test]
fn worker_starts_with_the_server_when_preloaded() {
    let mut cluster = cluster("bf_preload", ClusterOptions::new().preload());
    let (mut c, fixture) = prepared(&cluster, 500);
    for sql in [
        "ALTER SYSTEM SET rag_search.backfill_enabled = on".to_string(),
        format!("ALTER SYSTEM SET rag_search.backfill_database = '{DB}'"),
        "ALTER SYSTEM SET rag_search.backfill_mode = 'maintenance'".to_string(),
    ] {
        // ALTER SYSTEM refuses a multi-statement batch (a transaction block).
        c.batch_execute(&sql).unwrap();
    }
    drop(c);
    cluster.restart();
    let mut c = connect_dsn(&cluster.dsn(DB));
    assert!(wait_until(LONG, || status(&mut c).missing == 0));
    let st = status(&mut c);
    assert_eq!((st.state.as_str(), st.mode.as_str(), st.embedded), ("running", "maintenance", 500));
    assert_eq!(worker_pids(&mut c, DB).len(), 1);

    // Stopped by the operator: stays stopped across a restart.
    c.batch_execute("SELECT * FROM rag_backfill_stop()").unwrap();
    wait_for_state(&mut c, "stopped", LONG);
    drop(c);
    cluster.restart();
    let mut c = connect_dsn(&cluster.dsn(DB));
    c.batch_execute(&format!("SELECT * FROM rag_upsert_document('{DB}:late', 'Late', 'Arrived while stopped.')"))
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let st = status(&mut c);
    assert_eq!((st.state.as_str(), st.missing), ("stopped", 1));
    assert!(worker_pids(&mut c, DB).is_empty());
    assert!(cluster.server_log().contains("stopped by an operator"));

    // Resume continues in the saved mode.
    resume(&mut c);
    assert!(wait_until(LONG, || status(&mut c).missing == 0));
    let st = status(&mut c);
    assert_eq!((st.state.as_str(), st.mode.as_str(), st.embedded), ("running", "maintenance", 501));
    assert_eq!(fixture.inputs_embedded(), 501);
    c.batch_execute("SELECT * FROM rag_backfill_stop()").unwrap();
    wait_for_state(&mut c, "stopped", LONG);
    cluster.stop();
}

#[test]
fn server_down_backoff_and_configuration_reload() {
    let mut cluster = cluster("bf_sighup", ClusterOptions::new());
    let (mut c, fixture) = prepared(&cluster, 400);
    let down = ConnectionCounter::start();
    // Server-wide settings, so that a reload (SIGHUP) changes them.
    c.batch_execute(&format!("ALTER DATABASE {DB} RESET rag_search.embedding_url")).unwrap();
    c.batch_execute(&format!("ALTER SYSTEM SET rag_search.embedding_url = '{}'", down.url())).unwrap();
    c.batch_execute("SELECT pg_reload_conf()").unwrap();
    let mut c = connect_dsn(&cluster.dsn(DB));
    start_worker(&mut c, "batch_size => 64, batch_sleep_ms => 0");
    std::thread::sleep(Duration::from_secs(4));
    let attempts = down.connections();
    // Pauses of 200, 400, 800, 800... ms: about seven attempts in 4 s.
    assert!((2..=15).contains(&attempts), "{attempts} connection attempts in 4 s");
    let st = status(&mut c);
    assert_eq!((st.state.as_str(), st.embedded), ("running", 0));
    assert!(st.last_error.as_deref().unwrap_or("").contains(&down.url()), "{st:?}");
    let failures: i64 = c.query_one("SELECT count(*) FROM rag_search.backfill_failures", &[]).unwrap().get(0);
    assert_eq!(failures, 0, "an unreachable server is nobody's fault");

    c.batch_execute(&format!("ALTER SYSTEM SET rag_search.embedding_url = '{}'", fixture.url())).unwrap();
    c.batch_execute("SELECT pg_reload_conf()").unwrap();
    wait_for_state(&mut c, "idle", LONG);
    assert_complete_once(&mut c, 400);
    assert!(down.connections() <= attempts + 2, "the reloaded URL is used");
    assert!(cluster.server_log().contains("rag_search backfill: configuration reloaded"));
    cluster.stop();
}
