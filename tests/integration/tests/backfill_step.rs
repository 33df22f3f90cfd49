//! rag_backfill_step over client connections against a fixture embedder:
//! vectors, concurrency, failure isolation, faults, cancel, model switches,
//! privileges.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use fixture_embedder::Fault;
use postgres::error::SqlState;
use rag_search_integration::backfill::*;
use rag_search_integration::{connect_dsn, shared_cluster, Client};

struct Step {
    claimed: i32,
    embedded: i32,
    failed: i32,
    deferred: i32,
    remaining: i64,
}

fn step(c: &mut Client, batch: i32) -> Step {
    let r = c
        .query_one("SELECT claimed, embedded, failed, deferred, remaining FROM rag_backfill_step($1)", &[&batch])
        .expect("rag_backfill_step");
    Step { claimed: r.get(0), embedded: r.get(1), failed: r.get(2), deferred: r.get(3), remaining: r.get(4) }
}

/// A database with `n` chunks, pointed at a new fixture embedder.
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

fn clear_backoff(c: &mut Client) {
    c.batch_execute("UPDATE rag_search.backfill_state SET backoff_until = NULL, server_failures = 0")
        .expect("clear backoff");
}

#[test]
fn step_writes_the_fixture_vectors_and_counts() {
    let (mut c, fixture) = setup("it_bf_step", 200);
    let before = status(&mut c);
    assert_eq!((before.total, before.embedded, before.missing, before.coverage_pct.as_str()), (200, 0, 200, "0.00"));

    let mut calls = 0;
    loop {
        let s = step(&mut c, 64);
        calls += 1;
        assert_eq!((s.failed, s.deferred), (0, 0));
        assert_eq!(s.claimed, s.embedded);
        if s.remaining == 0 {
            break;
        }
        assert!(calls < 10, "step does not progress");
    }
    assert_eq!(calls, 4, "200 chunks in batches of 64");
    assert_eq!(fixture.requests(), 4);
    assert_eq!(fixture.inputs_embedded(), 200);
    assert_vectors_match_fixture(&mut c, TEST_MODEL, TEST_DIM);
    let after = status(&mut c);
    assert_eq!((after.total, after.embedded, after.missing, after.failed), (200, 200, 0, 0));
    assert_eq!(after.coverage_pct, "100.00");
    assert_eq!((after.model.as_str(), after.dimension), (TEST_MODEL, TEST_DIM as i32));
    // Nothing left: a further step claims nothing and sends nothing.
    let s = step(&mut c, 64);
    assert_eq!((s.claimed, s.remaining), (0, 0));
    assert_eq!(fixture.requests(), 4);
    // The counters agree with the table.
    let (n, embedded): (i64, i64) = {
        let r = c.query_one("SELECT total, embedded FROM rag_backfill_recount()", &[]).unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((n, embedded), (200, 200));
}

#[test]
fn four_concurrent_steps_never_claim_the_same_chunk() {
    let db = "it_bf_concurrent";
    let (mut c, fixture) = setup(db, 800);
    install_write_audit(&mut c);
    // Slow answers keep the four callers' batches overlapping.
    fixture.set_fault(Fault::Delay(Duration::from_millis(40)));
    let dsn = shared_cluster().dsn(db);
    let t0 = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let dsn = dsn.clone();
            thread::spawn(move || {
                let mut c = connect_dsn(&dsn);
                let mut calls = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let start = Instant::now();
                    let s = step(&mut c, 25);
                    let end = Instant::now();
                    if s.claimed > 0 {
                        calls.push((s.claimed, s.embedded, start, end));
                    }
                    if s.remaining == 0 || Instant::now() > deadline {
                        break;
                    }
                    if s.claimed == 0 {
                        thread::sleep(Duration::from_millis(10));
                    }
                }
                calls
            })
        })
        .collect();
    let calls: Vec<(i32, i32, Instant, Instant)> =
        workers.into_iter().flat_map(|w| w.join().expect("step caller")).collect();
    let claimed: i32 = calls.iter().map(|c| c.0).sum();
    let embedded: i32 = calls.iter().map(|c| c.1).sum();
    assert_eq!(claimed, 800, "every chunk claimed exactly once across the four callers");
    assert_eq!(embedded, 800);
    assert_eq!(fixture.inputs_embedded(), 800, "no chunk was sent to the embedder twice");
    assert_eq!(fixture.requests() as usize, calls.len());
    let (written, twice) = audit_summary(&mut c, TEST_MODEL);
    assert_eq!((written, twice), (800, 0));
    // The callers really ran at the same time.
    let mut events: Vec<(Duration, i32)> = Vec::new();
    for (_, _, s, e) in &calls {
        events.push((*s - t0, 1));
        events.push((*e - t0, -1));
    }
    events.sort();
    let (mut now, mut max) = (0, 0);
    for (_, d) in events {
        now += d;
        max = max.max(now);
    }
    assert!(max >= 2, "steps never overlapped");
    assert_eq!(status(&mut c).missing, 0);
}

#[test]
fn poison_input_is_isolated_retried_parked_and_released() {
    let db = "it_bf_poison";
    let (mut c, fixture) = setup(db, 64);
    c.batch_execute(&format!(
        "SELECT * FROM rag_upsert_document('{db}:40', 'Title 40', 'Chunk text number 40 of {db}. POISON')"
    ))
    .unwrap();
    let poison_id: i64 = c
        .query_one(
            "SELECT c.id FROM rag_search.chunks c JOIN rag_search.documents d ON d.id = c.document_id
             WHERE d.doc_id = $1",
            &[&format!("{db}:40")],
        )
        .unwrap()
        .get(0);
    fixture.set_fault(Fault::Poison("POISON".into()));

    let s = step(&mut c, 64);
    assert_eq!((s.claimed, s.embedded, s.failed, s.deferred, s.remaining), (64, 63, 1, 0, 1));
    // One batch, one probe, two requests per halving of 64.
    assert_eq!(fixture.requests(), 2 + 2 * 6);
    let r = c
        .query_one(
            "SELECT chunk_id, attempts, parked, next_retry_at IS NOT NULL, error_kind, last_error, embedding_model
             FROM rag_search.backfill_failures",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), poison_id);
    assert_eq!(r.get::<_, i32>(1), 1);
    assert!(!r.get::<_, bool>(2));
    assert!(r.get::<_, bool>(3));
    assert_eq!(r.get::<_, String>(4), "http");
    let msg: String = r.get(5);
    assert!(msg.contains("HTTP 500") && msg.contains(TEST_MODEL) && msg.contains(&fixture.url()), "{msg}");
    let st = status(&mut c);
    assert_eq!((st.missing, st.failed, st.retrying), (1, 0, 1));

    // Not before its retry time; then every attempt costs two requests
    // (the chunk and a probe) until it is parked after three attempts.
    let before = fixture.requests();
    let mut attempts = 1;
    let parked = wait_until(Duration::from_secs(30), || {
        let s = step(&mut c, 64);
        if s.claimed == 1 {
            attempts += 1;
            assert_eq!((s.embedded, s.failed), (0, 1));
        } else {
            assert_eq!(s.claimed, 0);
        }
        attempts == 3
    });
    assert!(parked);
    assert_eq!(fixture.requests() - before, 2 * 2, "two more attempts, two requests each");
    let (att, is_parked): (i32, bool) = {
        let r = c.query_one("SELECT attempts, parked FROM rag_search.backfill_failures", &[]).unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((att, is_parked), (3, true));
    let st = status(&mut c);
    assert_eq!((st.total, st.embedded, st.missing, st.failed, st.retrying), (64, 63, 0, 1, 0));
    assert_eq!(st.coverage_pct, "98.43");
    // Parked: no more requests, however often the step runs.
    let before = fixture.requests();
    for _ in 0..3 {
        assert_eq!(step(&mut c, 64).claimed, 0);
    }
    assert_eq!(fixture.requests(), before);

    // The operator releases it; with the server fixed it is embedded.
    fixture.set_fault(Fault::None);
    let reset: i64 = c.query_one("SELECT rag_backfill_retry_failed()", &[]).unwrap().get(0);
    assert_eq!(reset, 1);
    let s = step(&mut c, 64);
    assert_eq!((s.claimed, s.embedded, s.remaining), (1, 1, 0));
    let st = status(&mut c);
    assert_eq!((st.missing, st.failed, st.coverage_pct.as_str()), (0, 0, "100.00"));
    let left: i64 = c.query_one("SELECT count(*) FROM rag_search.backfill_failures", &[]).unwrap().get(0);
    assert_eq!(left, 0);
}

#[test]
fn server_level_faults_defer_the_batch_and_back_off() {
    let (mut c, fixture) = setup("it_bf_faults", 16);
    // A long pause so that "no request during the pause" is easy to see;
    // each case ends it by hand.
    c.batch_execute("SET rag_search.backfill_backoff_min = '30s'; SET rag_search.backfill_backoff_max = '60s'")
        .unwrap();
    c.batch_execute("SET rag_search.embedding_timeout = '500ms'").unwrap();
    let cases: [(Fault, u64, &str); 6] = [
        (Fault::Http500, 2, "returned HTTP 500"),
        (Fault::MalformedJson, 2, "invalid response"),
        (Fault::WrongCount, 2, "expected 16 vectors, got 15"),
        (Fault::WrongDimension, 2, "3-dimensional"),
        (Fault::NaN, 2, "non-finite"),
        // Timing out: the probe times out too, so nothing is blamed.
        (Fault::Hang, 2, "timed out"),
    ];
    for (fault, requests, message) in cases {
        fixture.reset_counts();
        fixture.set_fault(fault.clone());
        let s = step(&mut c, 16);
        assert_eq!(
            (s.claimed, s.embedded, s.failed, s.deferred, s.remaining),
            (16, 0, 0, 16, 16),
            "{fault:?}"
        );
        assert_eq!(fixture.requests(), requests, "{fault:?}: requests for one failed batch");
        let failures: i64 = c.query_one("SELECT count(*) FROM rag_search.backfill_failures", &[]).unwrap().get(0);
        assert_eq!(failures, 0, "{fault:?}: server trouble must not be blamed on chunks");
        let st = status(&mut c);
        let err = st.last_error.unwrap_or_default();
        assert!(err.contains(message), "{fault:?}: last_error {err:?}");
        assert_eq!(st.missing, 16);
        // During the backoff pause nothing is claimed and nothing sent.
        for _ in 0..5 {
            let s = step(&mut c, 16);
            assert_eq!(s.claimed, 0, "{fault:?}");
        }
        assert_eq!(fixture.requests(), requests, "{fault:?}: no request during the backoff pause");
        fixture.set_fault(Fault::None);
        clear_backoff(&mut c);
    }

    // A fault on one request only: the split halves succeed, nothing fails.
    fixture.reset_counts();
    fixture.set_fault_for_next(1, Fault::Http500);
    let s = step(&mut c, 16);
    assert_eq!((s.claimed, s.embedded, s.failed, s.deferred, s.remaining), (16, 16, 0, 0, 0));
    assert_eq!(fixture.requests(), 4, "batch, probe, two halves");
    assert_vectors_match_fixture(&mut c, TEST_MODEL, TEST_DIM);
}

#[test]
fn a_text_the_model_hangs_on_is_isolated_not_retried_forever() {
    let db = "it_bf_hang_on";
    let (mut c, fixture) = setup(db, 16);
    c.batch_execute(&format!(
        "SELECT * FROM rag_upsert_document('{db}:9', 'Title 9', 'Chunk text number 9 of {db}. STUCK')"
    ))
    .unwrap();
    c.batch_execute("SET rag_search.embedding_timeout = '300ms'").unwrap();
    fixture.set_fault(Fault::HangOn("STUCK".into()));

    // The batch times out, the probe answers, so the batch is split and only
    // the text the model hangs on (document 9's new text) fails; its 15
    // neighbours are embedded.
    let s = step(&mut c, 16);
    assert_eq!((s.claimed, s.embedded, s.failed, s.deferred, s.remaining), (16, 15, 1, 0, 1));
    let (kind, msg): (String, String) = {
        let r = c.query_one("SELECT error_kind, last_error FROM rag_search.backfill_failures", &[]).unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(kind, "timeout");
    assert!(msg.contains("timed out"), "{msg}");
    let backoff: bool =
        c.query_one("SELECT backoff_until IS NULL FROM rag_search.backfill_state", &[]).unwrap().get(0);
    assert!(backoff, "a healthy server is not backed off");
    let st = status(&mut c);
    assert_eq!((st.embedded, st.missing, st.retrying), (15, 1, 1));
    fixture.set_fault(Fault::None);
}

#[test]
fn server_down_defers_then_backoff_expires_and_work_resumes() {
    let (mut c, fixture) = setup("it_bf_down", 20);
    fixture.stop();
    let s = step(&mut c, 64);
    assert_eq!((s.claimed, s.embedded, s.failed, s.deferred), (20, 0, 0, 20));
    let failures: i64 = c.query_one("SELECT count(*) FROM rag_search.backfill_failures", &[]).unwrap().get(0);
    assert_eq!(failures, 0);
    let st = status(&mut c);
    assert!(st.last_error.as_deref().unwrap_or("").contains("cannot reach"), "{st:?}");
    fixture.restart().expect("restart fixture");
    // The URL stays valid: restart() reuses the port unless it was taken.
    let url: String = c.query_one("SHOW rag_search.embedding_url", &[]).unwrap().get(0);
    assert_eq!(url, fixture.url());
    let done = wait_until(Duration::from_secs(30), || step(&mut c, 64).remaining == 0);
    assert!(done, "work resumes once the backoff pause is over");
    assert_eq!(fixture.inputs_embedded(), 20);
    assert_eq!(status(&mut c).coverage_pct, "100.00");
}

#[test]
fn cancel_interrupts_a_step_blocked_on_a_hanging_server() {
    let db = "it_bf_cancel";
    let (mut c, fixture) = setup(db, 8);
    fixture.set_fault(Fault::Hang);
    let dsn = shared_cluster().dsn(db);
    let mut blocked = connect_dsn(&dsn);
    blocked.batch_execute("SET rag_search.embedding_timeout = '10min'").unwrap();
    let pid: i32 = blocked.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let (tx, rx) = mpsc::channel();
    let caller = thread::spawn(move || {
        let result = blocked.query("SELECT * FROM rag_backfill_step(8)", &[]);
        let code = result.err().and_then(|e| e.code().cloned());
        // The session stays usable after the cancel.
        let alive = blocked.query_one("SELECT 1", &[]).map(|r| r.get::<_, i32>(0) == 1).unwrap_or(false);
        let _ = tx.send((code, alive));
    });
    assert!(wait_until(Duration::from_secs(30), || fixture.requests() >= 1), "the step never reached the server");
    let cancelled: bool = c.query_one("SELECT pg_cancel_backend($1)", &[&pid]).unwrap().get(0);
    assert!(cancelled);
    // A bounded wait only so that a broken build cannot hang the suite.
    let (code, alive) = rx.recv_timeout(Duration::from_secs(60)).expect("the cancelled step returned");
    caller.join().unwrap();
    assert_eq!(code, Some(SqlState::QUERY_CANCELED));
    assert!(alive);
    fixture.set_fault(Fault::None);
    // Rolled back: nothing written, nothing blamed.
    assert_eq!(missing_embeddings(&mut c), 8);
    let failures: i64 = c.query_one("SELECT count(*) FROM rag_search.backfill_failures", &[]).unwrap().get(0);
    assert_eq!(failures, 0);
}

#[test]
fn model_and_dimension_switches_reembed_and_search_sees_only_the_current_model() {
    let db = "it_bf_switch";
    let (mut c, fixture) = setup(db, 120);
    install_write_audit(&mut c);
    while step(&mut c, 64).remaining > 0 {}
    assert_eq!(audit_summary(&mut c, TEST_MODEL), (120, 0));

    // A switch waits for an in-flight step and then clears what it wrote:
    // no vector of the old model survives.
    c.batch_execute("UPDATE rag_search.chunks SET embedding = NULL, embedding_model = NULL, embedding_dim = NULL, embedded_at = NULL WHERE id IN (SELECT id FROM rag_search.chunks ORDER BY id LIMIT 10)").unwrap();
    c.batch_execute("SELECT * FROM rag_backfill_recount()").unwrap();
    let dsn = shared_cluster().dsn(db);
    let mut in_flight = connect_dsn(&dsn);
    in_flight.batch_execute("BEGIN").unwrap();
    let s = step(&mut in_flight, 64);
    assert_eq!(s.embedded, 10);
    let (tx, rx) = mpsc::channel();
    let switcher = thread::spawn(move || {
        let mut c = connect_dsn(&dsn);
        let r = c.query_one("SELECT embeddings_cleared FROM rag_set_embedding_model('model-b', 64)", &[]);
        let _ = tx.send(r.map(|r| r.get::<_, i64>(0)).map_err(|e| e.to_string()));
    });
    let waiting = wait_until(Duration::from_secs(30), || {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'
                 AND query LIKE '%rag_set_embedding_model%'",
                &[&db],
            )
            .unwrap()
            .get(0);
        n == 1
    });
    assert!(waiting, "the model switch should wait for the in-flight step");
    in_flight.batch_execute("COMMIT").unwrap();
    let cleared = rx.recv_timeout(Duration::from_secs(60)).expect("switch finished").expect("switch");
    switcher.join().unwrap();
    assert_eq!(cleared, 120, "the step's 10 writes were cleared with the rest");
    let st = status(&mut c);
    assert_eq!((st.total, st.embedded, st.missing, st.model.as_str()), (120, 0, 120, "model-b"));

    while step(&mut c, 64).remaining > 0 {}
    assert_eq!(audit_summary(&mut c, "model-b"), (120, 0), "every chunk re-embedded exactly once");
    assert_vectors_match_fixture(&mut c, "model-b", 64);

    // Dimension switch: column retyped, everything re-embedded at 32. (The
    // test's audit trigger names the column, which a retype refuses.)
    c.batch_execute("DROP TRIGGER audit_embedding_write ON rag_search.chunks").unwrap();
    c.batch_execute("SELECT * FROM rag_set_embedding_model('model-b', 32)").unwrap();
    assert_eq!(status(&mut c).missing, 120);
    while step(&mut c, 64).remaining > 0 {}
    assert_vectors_match_fixture(&mut c, "model-b", 32);
    let st = status(&mut c);
    assert_eq!((st.embedded, st.dimension, st.coverage_pct.as_str()), (120, 32, "100.00"));

    // A nearest-neighbour search finds the chunk whose text was embedded,
    // over current-model vectors only.
    let text = seeded_text(db, 77);
    let q = pgvector::Vector::from(fixture_embedder::expected_vector(&text, TEST_NATIVE_DIM, 32));
    let rows = c
        .query(
            "SELECT content, embedding_model FROM rag_search.chunks WHERE embedding IS NOT NULL
             ORDER BY embedding <=> $1 LIMIT 3",
            &[&q],
        )
        .unwrap();
    assert_eq!(rows[0].get::<_, String>(0), text);
    assert!(rows.iter().all(|r| r.get::<_, String>(1) == "model-b"));
    let stale: i64 = c
        .query_one(
            "SELECT count(*) FROM rag_search.chunks c, rag_search.index_state s
             WHERE c.embedding IS NOT NULL AND (c.embedding_model, c.embedding_dim) <> (s.embedding_model, s.embedding_dim)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stale, 0);
    drop(fixture);
}

#[test]
fn privileges_of_settings_and_backfill_functions() {
    let db = "it_bf_privileges";
    let (mut c, fixture) = setup(db, 10);
    // The API key is refused where a catalog would keep it readable by all.
    let refused = c
        .batch_execute(&format!("ALTER DATABASE {db} SET rag_search.embedding_api_key = 'sekrit-key'"))
        .expect_err("ALTER DATABASE SET of the API key");
    assert_eq!(refused.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    assert!(refused.as_db_error().and_then(|e| e.hint()).is_some_and(|h| h.contains("ALTER SYSTEM")));
    c.batch_execute(
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bf_user') THEN CREATE ROLE bf_user LOGIN; END IF;
         END $$;
         REVOKE rag_search_admin FROM bf_user;",
    )
    .unwrap();
    let cluster = shared_cluster();
    let user_dsn = cluster.dsn_as(db, "bf_user");
    let code_of = |u: &mut Client, sql: &str| -> Option<SqlState> { u.batch_execute(sql).err().and_then(|e| e.code().cloned()) };

    // Before rag_search is loaded in a session, SET only makes a
    // placeholder; loading the library drops a value the role may not set.
    let mut u = connect_dsn(&user_dsn);
    u.batch_execute("SET rag_search.embedding_url = 'http://example.invalid:1'").unwrap();
    assert_eq!(code_of(&mut u, "SELECT * FROM rag_backfill_status()"), Some(SqlState::INSUFFICIENT_PRIVILEGE));
    let url: String = c.query_one("SHOW rag_search.embedding_url", &[]).unwrap().get(0);
    let seen: String = u.query_one("SHOW rag_search.embedding_url", &[]).unwrap().get(0);
    assert_eq!(seen, url, "the placeholder value was discarded");
    assert_eq!(url, fixture.url());

    // Settings that point the server at the network, or hold a secret.
    for sql in [
        "SET rag_search.embedding_url = 'http://example.invalid:1'",
        "SET rag_search.embedding_provider = 'openai'",
        "SET rag_search.embedding_api_key = 'x'",
        "SHOW rag_search.embedding_api_key",
        "SELECT current_setting('rag_search.embedding_api_key')",
        "SET rag_search.backfill_backoff_min = '10ms'",
    ] {
        assert_eq!(code_of(&mut u, sql), Some(SqlState::INSUFFICIENT_PRIVILEGE), "{sql}");
    }
    let visible: i64 =
        u.query_one("SELECT count(*) FROM pg_settings WHERE name = 'rag_search.embedding_api_key'", &[]).unwrap().get(0);
    assert_eq!(visible, 0, "the API key is hidden from pg_settings");

    // Operating the backfill.
    for sql in [
        "SELECT * FROM rag_backfill_start()",
        "SELECT * FROM rag_backfill_stop()",
        "SELECT * FROM rag_backfill_resume()",
        "SELECT rag_backfill_retry_failed()",
        "SELECT * FROM rag_backfill_step(1)",
        "SELECT * FROM rag_backfill_recount()",
    ] {
        assert_eq!(code_of(&mut u, sql), Some(SqlState::INSUFFICIENT_PRIVILEGE), "{sql}");
    }
    // Status: for roles that can read the chunks.
    assert_eq!(code_of(&mut u, "SELECT * FROM rag_backfill_status()"), Some(SqlState::INSUFFICIENT_PRIVILEGE));
    assert_eq!(code_of(&mut u, "SELECT * FROM rag_backfill_progress"), Some(SqlState::INSUFFICIENT_PRIVILEGE));
    c.batch_execute("GRANT USAGE ON SCHEMA rag_search TO bf_user; GRANT SELECT ON rag_search.chunks TO bf_user")
        .unwrap();
    let st = status(&mut u);
    assert_eq!((st.total, st.missing), (10, 10));

    // Members of rag_search_admin operate it.
    c.batch_execute("GRANT rag_search_admin TO bf_user").unwrap();
    let mut u = connect_dsn(&user_dsn);
    let s = step(&mut u, 4);
    assert_eq!((s.claimed, s.embedded), (4, 4));
    let started: bool = u.query_one("SELECT started FROM rag_backfill_start()", &[]).unwrap().get(0);
    assert!(started);
    wait_for_state(&mut u, "idle", Duration::from_secs(60));
    assert_eq!(status(&mut u).missing, 0);
    let stop_requested: bool = u.query_one("SELECT stop_requested FROM rag_backfill_stop()", &[]).unwrap().get(0);
    assert!(!stop_requested, "nothing running to stop");
    // Admins still cannot see or change the server-level settings.
    assert_eq!(code_of(&mut u, "SHOW rag_search.embedding_api_key"), Some(SqlState::INSUFFICIENT_PRIVILEGE));
    assert_eq!(
        code_of(&mut u, "SET rag_search.embedding_url = 'http://example.invalid:1'"),
        Some(SqlState::INSUFFICIENT_PRIVILEGE)
    );
    drop(u);
    c.batch_execute("REVOKE rag_search_admin FROM bf_user; DROP OWNED BY bf_user").unwrap();
    drop(fixture);
}
