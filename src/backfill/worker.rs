//! The backfill background worker.
//!
//! One per database, enforced by a session advisory lock that also tells
//! rag_backfill_status() whether the worker is alive. Each batch is three
//! steps: a short transaction claims chunks under a lease recorded in
//! rag_search.backfill_state (no row locks survive it), the embedding
//! request runs outside any transaction, and a second transaction writes the
//! vectors after re-checking the model under a lock on index_state. State
//! and progress live in the database, so a stopped, crashed or restarted
//! worker is resumed by starting a new one.
//!
//! Started dynamically by rag_backfill_start / rag_backfill_resume (the
//! database oid is the main argument, the launch generation the extra), or
//! with the server when rag_search is preloaded and
//! rag_search.backfill_enabled is on (argument 0: the database is
//! rag_search.backfill_database).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, UnwindSafe};
use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use rag_core::backfill::{
    backoff_delay, chunks_per_second, Isolation, LaunchTicket, Mode, NextMove, Pacing, Progress, ProgressLine,
    MAX_WAIT_SLICE,
};
use rag_core::embed::{EmbedError, EmbedPipeline, Pending};

use super::control::{WORKER_FUNCTION, WORKER_NAME};
use super::{settings, store, Claimed, WORKER_LOCK_CLASS, WORKER_LOCK_ID};
use crate::embedding::{self, Target};
use crate::error::OrRaise;
use crate::queries;

/// After this many SQL errors in a row the worker gives up (state stopped,
/// reason error); it backs off between them.
const MAX_CONSECUTIVE_ERRORS: u32 = 10;
/// How long a new worker waits for a previous one to release the lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Registers the server-started worker (from _PG_init, while
/// shared_preload_libraries is processed). It restarts 10 s after a crash;
/// a normal exit (finished, stopped) is final until the next server start.
pub fn register_static_worker() {
    BackgroundWorkerBuilder::new(WORKER_NAME)
        .set_type(WORKER_NAME)
        .set_library("rag_search")
        .set_function(WORKER_FUNCTION)
        .enable_spi_access()
        .set_argument(Some(pg_sys::Datum::from(0u32)))
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn rag_backfill_worker_main(arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database_oid = arg.value() as u32;
    let ticket = LaunchTicket::decode(BackgroundWorker::get_extra());
    if database_oid != 0 {
        BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(database_oid)), None);
    } else {
        let database = settings::database();
        BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    }
    pin_search_path();
    let Some(mut worker) = Worker::begin(ticket) else {
        return;
    };
    worker.run();
}

/// The worker connects as the bootstrap superuser and inherits the
/// database's and role's settings, search_path included: pin it before any
/// statement runs, so that no object in a schema another role controls can
/// stand in for a built-in one (every statement names its objects with their
/// schema anyway).
fn pin_search_path() {
    // SAFETY: sets a GUC of this process at the highest-priority source;
    // the value is a constant list of schemas.
    unsafe {
        pg_sys::SetConfigOption(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_OVERRIDE,
        );
    }
}

fn shutdown_requested() -> bool {
    // SAFETY: a sig_atomic_t flag set by the SIGTERM handler; read volatile.
    unsafe { std::ptr::read_volatile(&raw const pg_sys::ShutdownRequestPending) != 0 }
}

fn reload_config_if_asked() {
    if BackgroundWorker::sighup_received() {
        // SAFETY: the documented way for a process to apply a SIGHUP.
        unsafe {
            std::ptr::write_volatile(&raw mut pg_sys::ConfigReloadPending, 0);
            pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
        }
        log!("rag_search backfill: configuration reloaded");
    }
}

/// Sleeps on the process latch (woken early by SIGTERM and SIGHUP); exits
/// the process if the postmaster dies.
fn nap(d: Duration) {
    let ms = d.as_millis().clamp(1, i64::from(i32::MAX) as u128) as std::ffi::c_long;
    // SAFETY: the process's own latch, as every PostgreSQL process uses it.
    unsafe {
        pg_sys::WaitLatch(
            pg_sys::MyLatch,
            (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
            ms,
            pg_sys::PG_WAIT_EXTENSION,
        );
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
}

/// Runs `f` in its own transaction. An ERROR rolls the transaction back and
/// comes back as its message, so one failing statement never kills the
/// worker.
fn transaction<R>(f: impl FnOnce() -> R + UnwindSafe) -> Result<R, String> {
    // SAFETY: outside any transaction here; the same sequence PostgreSQL's
    // own background workers use.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let result = PgTryBuilder::new(move || {
        let r = f();
        // SAFETY: pairs with the push and start above.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Ok(r)
    })
    .catch_others(|e| Err(caught_message(&e)))
    .execute();
    if result.is_err() {
        // SAFETY: rolls back whatever the failed body left open.
        unsafe { pg_sys::AbortCurrentTransaction() };
    }
    result
}

fn caught_message(e: &CaughtError) -> String {
    match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r.message().to_string(),
        CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
    }
}

/// The state row as a worker finds it when it takes over.
struct Takeover {
    generation: i64,
    state: String,
    stop_requested: bool,
    stop_reason: Option<String>,
    pacing: Pacing,
}

struct Worker {
    generation: i64,
    pid: i32,
    pacing: Pacing,
    started: Instant,
    run_embedded: u64,
    run_failed: u64,
    round_embedded: u64,
    consecutive_errors: u32,
    idle_until: Option<Instant>,
    pipeline: EmbedPipeline,
    inflight: VecDeque<Inflight>,
    /// The last batch was not deferred: the server answers.
    healthy: bool,
    /// From the last empty claim: when a failed chunk is due again.
    next_retry: Option<Duration>,
}

enum Exit {
    /// Recorded state and reason.
    Record(&'static str, &'static str),
    /// Another launch took over the state row: leave it alone.
    Superseded,
}

impl Worker {
    /// Takes the worker lock and the state row; None when this process
    /// should not run (another worker is alive, the launch was rolled back
    /// or superseded, the backfill was stopped by an operator, or the
    /// extension is not installed in this database).
    fn begin(ticket: Option<LaunchTicket>) -> Option<Worker> {
        let installed = transaction(|| Spi::get_one::<String>(queries::EXTENSION_VERSION).ok().flatten());
        let library = env!("CARGO_PKG_VERSION");
        match installed {
            Ok(Some(v)) if v == library => {}
            Ok(Some(v)) => {
                log!(
                    "rag_search backfill: rag_search {v} is installed in this database but the library is {library}; \
                     run ALTER EXTENSION rag_search UPDATE; worker exits"
                );
                return None;
            }
            _ => {
                log!("rag_search backfill: extension rag_search is not installed in this database; worker exits");
                return None;
            }
        }
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            let locked = transaction(|| {
                let args: [DatumWithOid; 2] = [WORKER_LOCK_CLASS.into(), WORKER_LOCK_ID.into()];
                Spi::get_one_with_args::<bool>(queries::BACKFILL_WORKER_LOCK, &args).ok().flatten().unwrap_or(false)
            });
            match locked {
                Ok(true) => break,
                Ok(false) if Instant::now() < deadline && !shutdown_requested() => nap(Duration::from_millis(100)),
                Ok(false) => {
                    log!("rag_search backfill: a worker is already running for this database; this one exits");
                    return None;
                }
                Err(e) => {
                    warning!("rag_search backfill: cannot take the worker lock: {e}");
                    return None;
                }
            }
        }
        // SAFETY: a plain read of a process global.
        let pid = unsafe { pg_sys::MyProcPid };
        let started = transaction(AssertUnwindSafe(|| {
            Spi::connect_mut(|client| {
                // Blocks until the launching transaction has committed.
                let found = take_row(client);
                let generation = match ticket {
                    Some(t) if t.generation != found.generation => return None,
                    Some(t) if found.stop_requested => {
                        finish(client, t.generation, "stopped", "operator");
                        return None;
                    }
                    Some(t) => (t.generation, found.pacing),
                    None if found.state == "stopped" && found.stop_reason.as_deref() == Some("operator") => {
                        log!("rag_search backfill: stopped by an operator; call rag_backfill_resume() to continue");
                        return None;
                    }
                    None => (adopt(client), server_pacing()),
                };
                let args: [DatumWithOid; 2] = [pid.into(), generation.0.into()];
                client.update(queries::BACKFILL_WORKER_RUNNING, None, &args).or_raise("record worker start");
                Some(generation)
            })
        }));
        let (generation, pacing) = match started {
            Ok(Some(g)) => g,
            Ok(None) => return None,
            Err(e) => {
                warning!("rag_search backfill: cannot start: {e}");
                return None;
            }
        };
        let pipeline = match EmbedPipeline::start() {
            Ok(p) => p,
            Err(e) => {
                warning!("rag_search backfill: cannot start the embedding thread: {e}");
                let _ = transaction(|| Spi::connect_mut(|client| finish(client, generation, "stopped", "error")));
                return None;
            }
        };
        log!(
            "rag_search backfill: worker started (mode {}, batch size {}, batch sleep {} ms, max chunks {})",
            pacing.mode,
            pacing.batch_size,
            pacing.batch_sleep.as_millis(),
            pacing.max_chunks
        );
        Some(Worker {
            generation,
            pid,
            pacing,
            started: Instant::now(),
            run_embedded: 0,
            run_failed: 0,
            round_embedded: 0,
            consecutive_errors: 0,
            idle_until: None,
            pipeline,
            inflight: VecDeque::new(),
            healthy: false,
            next_retry: None,
        })
    }

    fn run(&mut self) {
        let exit = loop {
            if shutdown_requested() {
                self.abandon();
                break Exit::Record("stopped", "terminated");
            }
            reload_config_if_asked();
            match self.tick() {
                Ok(None) => self.consecutive_errors = 0,
                Ok(Some(exit)) => break exit,
                Err(e) => {
                    self.consecutive_errors += 1;
                    warning!("rag_search backfill: {e}");
                    if !extension_present() {
                        log!("rag_search backfill: extension rag_search was dropped; worker exits");
                        self.pipeline.cancel();
                        return;
                    }
                    let _ = transaction(AssertUnwindSafe(|| {
                        Spi::connect_mut(|client| store::note_error(client, &e));
                    }));
                    if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                        self.abandon();
                        break Exit::Record("stopped", "error");
                    }
                    let (min, max) = settings::server_backoff();
                    self.wait(backoff_delay(self.consecutive_errors, min, max));
                }
            }
        };
        if let Exit::Record(state, reason) = exit {
            let generation = self.generation;
            let recorded = transaction(|| Spi::connect_mut(|client| finish(client, generation, state, reason)));
            if let Err(e) = recorded {
                warning!("rag_search backfill: cannot record the worker's exit: {e}");
            }
            log!(
                "rag_search backfill: worker (pid {}) exits ({reason}) after embedding {} chunks ({} failed) in {:.1} s",
                self.pid,
                self.run_embedded,
                self.run_failed,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// Waits up to `d` in short slices, returning early on SIGTERM.
    fn wait(&self, d: Duration) {
        let until = Instant::now() + d;
        while !shutdown_requested() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            nap((until - now).min(MAX_WAIT_SLICE));
        }
    }

    /// One turn of the loop: control checks, at most one claim, then the
    /// oldest batch in flight is written. Ok(Some(exit)) ends the run; Err
    /// is an SQL error.
    fn tick(&mut self) -> Result<Option<Exit>, String> {
        let generation = self.generation;
        let control = transaction(|| Spi::connect(read_control))?;
        if control.generation != generation {
            log!("rag_search backfill: superseded by a newer launch; worker exits");
            self.abandon();
            return Ok(Some(Exit::Superseded));
        }
        if control.stop_requested {
            // "After the current batch": what is in flight is finished first.
            while !self.inflight.is_empty() {
                if let Some(exit) = self.complete_front()? {
                    return Ok(Some(exit));
                }
            }
            return Ok(Some(Exit::Record("stopped", "operator")));
        }
        // During a pause only batches already in flight are finished;
        // rechecking the flags every slice keeps stop and SIGTERM prompt.
        let idle_left = self.idle_until.map(|u| u.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero());
        if let Some(left) = control.backoff_left.or(idle_left) {
            if self.inflight.is_empty() {
                nap(left.min(MAX_WAIT_SLICE));
                return Ok(None);
            }
            return self.complete_front();
        }
        self.idle_until = None;

        // Keep the pipeline filled: one batch embeds while the previous
        // one is written. Only one while the server is not known healthy,
        // so a failing server sees one batch per backoff interval.
        let depth = if self.healthy { PIPELINE_DEPTH } else { 1 };
        if self.inflight.len() < depth && !self.quota_reached() {
            if let Some(exit) = self.claim()? {
                return Ok(Some(exit));
            }
        }
        if self.inflight.is_empty() {
            let progress = Progress {
                claimed: 0,
                run_embedded: self.run_embedded,
                round_embedded: self.round_embedded,
                next_retry_in: self.next_retry,
            };
            return Ok(self.follow(self.pacing.next_move(&progress)));
        }
        self.complete_front()
    }

    /// Run quota (bootstrap) or round quota (maintenance) reached, counting
    /// the batches in flight.
    fn quota_reached(&self) -> bool {
        let limit = self.pacing.max_chunks;
        let counted = match self.pacing.mode {
            Mode::Bootstrap => self.run_embedded,
            Mode::Maintenance => self.round_embedded,
        };
        let inflight: usize = self.inflight.iter().map(|b| b.chunks.len()).sum();
        limit > 0 && counted + inflight as u64 >= limit
    }

    /// Claims the next batch under a lease and hands it to the embedding
    /// thread. Ok(Some(exit)) never happens today; kept for symmetry.
    fn claim(&mut self) -> Result<Option<Exit>, String> {
        let batch = self.pacing.batch_size as i32;
        let lease = lease_for(embedding_timeout());
        let held: Vec<i64> = self.inflight.iter().flat_map(|b| b.chunks.iter().map(|c| c.id)).collect();
        let claimed = transaction(AssertUnwindSafe(|| {
            Spi::connect_mut(|client| {
                let target = embedding::current_target();
                let cfg = embedding::config_for(&target)?;
                // The lease is advisory: losing it in a crash costs nothing.
                client.update(queries::BACKFILL_ASYNC_COMMIT, None, &[]).or_raise("set synchronous_commit");
                let chunks = store::claim_leased(client, batch, &target, lease, &held);
                let next_retry = if chunks.is_empty() { store::next_retry(client, &target) } else { None };
                Ok::<_, String>((target, cfg, chunks, next_retry))
            })
        }))?;
        let (target, cfg, chunks, next_retry) = match claimed {
            Ok(c) => c,
            Err(msg) => {
                // A settings problem is server-level trouble: back off.
                transaction(AssertUnwindSafe(|| Spi::connect_mut(|client| store::note_error(client, &msg))))?;
                let (min, max) = settings::server_backoff();
                self.wait(backoff_delay(1, min, max));
                return Ok(None);
            }
        };
        self.next_retry = next_retry;
        if chunks.is_empty() {
            return Ok(None);
        }
        let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
        let pending = self.pipeline.submit(cfg, texts);
        self.inflight.push_back(Inflight { target, chunks, pending });
        Ok(None)
    }

    /// Waits for the oldest batch in flight and writes it.
    fn complete_front(&mut self) -> Result<Option<Exit>, String> {
        let Some(batch) = self.inflight.pop_front() else {
            return Ok(None);
        };
        let pipeline = &self.pipeline;
        let iso = batch.pending.wait(&mut || {
            if shutdown_requested() {
                pipeline.cancel();
            }
        });
        if iso.cancelled {
            self.abandon();
            return Ok(Some(Exit::Record("stopped", "terminated")));
        }
        let still_held: Vec<i64> = self.inflight.iter().flat_map(|b| b.chunks.iter().map(|c| c.id)).collect();
        let pacing = self.pacing;
        let written = transaction(AssertUnwindSafe(|| {
            Spi::connect_mut(|client| write_batch(client, &batch.target, &batch.chunks, &iso, &pacing, &still_held))
        }))?;
        let Some(done) = written else {
            log!("rag_search backfill: the embedding model changed during a batch; its vectors were dropped");
            return Ok(None);
        };
        self.run_embedded += done.embedded as u64;
        self.round_embedded += done.embedded as u64;
        self.run_failed += done.failed as u64;
        if let Some(mut line) = done.report {
            line.run_embedded = self.run_embedded;
            line.run_failed = self.run_failed;
            line.rate = chunks_per_second(self.run_embedded as i64, self.started.elapsed().as_secs_f64());
            log!("{line}");
        }
        if let (Some(err), Some(pause)) = (&iso.deferred, done.backoff) {
            self.healthy = false;
            warning!(
                "rag_search backfill: {err}; {} chunks deferred, backing off for {:.1} s",
                done.deferred,
                pause.as_secs_f64()
            );
            return Ok(None);
        }
        self.healthy = true;
        let progress = Progress {
            claimed: batch.chunks.len() as u64,
            run_embedded: self.run_embedded,
            round_embedded: self.round_embedded,
            next_retry_in: None,
        };
        let next = self.pacing.next_move(&progress);
        if let NextMove::Finish(_) = next {
            // The quota is reached: finish what is still in flight first.
            while !self.inflight.is_empty() {
                if let Some(exit) = self.complete_front()? {
                    return Ok(Some(exit));
                }
            }
        }
        Ok(self.follow(next))
    }

    /// Cancels the batches in flight (SIGTERM, superseded, giving up) and
    /// ends the lease.
    fn abandon(&mut self) {
        self.pipeline.cancel();
        let mut requests = 0;
        while let Some(b) = self.inflight.pop_front() {
            requests += b.pending.wait(&mut || {}).requests;
        }
        let _ = transaction(|| Spi::connect_mut(|client| release_lease(client, requests)));
    }

    fn follow(&mut self, next: NextMove) -> Option<Exit> {
        match next {
            NextMove::Continue(pause) => {
                if !pause.is_zero() {
                    self.wait(pause);
                }
                None
            }
            NextMove::Wait(d) => {
                // Waiting ends a maintenance polling round.
                self.round_embedded = 0;
                self.idle_until = Some(Instant::now() + d);
                None
            }
            NextMove::Finish(reason) => Some(Exit::Record("finished", reason.as_str())),
        }
    }
}

/// A claimed batch handed to the embedding thread.
struct Inflight {
    target: Target,
    chunks: Vec<Claimed>,
    pending: Pending,
}

/// Batches claimed ahead: one is written while the next one embeds.
const PIPELINE_DEPTH: usize = 2;

struct Control {
    generation: i64,
    stop_requested: bool,
    backoff_left: Option<Duration>,
}

fn read_control(client: &SpiClient<'_>) -> Control {
    let t = client.select(queries::BACKFILL_WORKER_CONTROL, None, &[]).or_raise("read control").first();
    Control {
        generation: t.get::<i64>(1).or_raise("read control").unwrap_or(0),
        stop_requested: t.get::<bool>(2).or_raise("read control").unwrap_or(false),
        backoff_left: t
            .get::<i64>(3)
            .or_raise("read control")
            .map(|ms| Duration::from_millis(ms.max(0) as u64)),
    }
}

fn take_row(client: &mut SpiClient<'_>) -> Takeover {
    let t = client.update(queries::BACKFILL_WORKER_CLAIM_ROW, None, &[]).or_raise("read state").first();
    let text = |i| t.get::<String>(i).or_raise("read state");
    let mode = Mode::parse(&text(5).unwrap_or_default()).unwrap_or(Mode::Bootstrap);
    Takeover {
        generation: t.get::<i64>(1).or_raise("read state").unwrap_or(0),
        state: text(2).unwrap_or_default(),
        stop_requested: t.get::<bool>(3).or_raise("read state").unwrap_or(false),
        stop_reason: text(4),
        pacing: Pacing {
            mode,
            batch_size: t.get::<i32>(6).or_raise("read state").unwrap_or(64).max(1) as u32,
            batch_sleep: Duration::from_millis(t.get::<i32>(7).or_raise("read state").unwrap_or(0).max(0) as u64),
            max_chunks: t.get::<i64>(8).or_raise("read state").unwrap_or(0).max(0) as u64,
            report_every: t.get::<i32>(9).or_raise("read state").unwrap_or(10).max(1) as u32,
            poll_interval: settings::poll_interval(),
        },
    }
}

/// Pacing of a server-started worker: the settings of its mode.
fn server_pacing() -> Pacing {
    let mode = settings::mode();
    let (batch, sleep, max) = settings::run_defaults(mode);
    Pacing {
        mode,
        batch_size: batch.max(1) as u32,
        batch_sleep: Duration::from_millis(sleep.max(0) as u64),
        max_chunks: max.max(0) as u64,
        report_every: settings::report_every().max(1) as u32,
        poll_interval: settings::poll_interval(),
    }
}

/// A server-started worker records its run; returns the new generation.
fn adopt(client: &mut SpiClient<'_>) -> i64 {
    let p = server_pacing();
    let args: [DatumWithOid; 5] = [
        p.mode.as_str().into(),
        (p.batch_size as i32).into(),
        (p.batch_sleep.as_millis() as i32).into(),
        (p.max_chunks as i64).into(),
        (p.report_every as i32).into(),
    ];
    client
        .update(queries::BACKFILL_WORKER_ADOPT, None, &args)
        .or_raise("record worker start")
        .first()
        .get_one::<i64>()
        .or_raise("record worker start")
        .unwrap_or(0)
}

fn finish(client: &mut SpiClient<'_>, generation: i64, state: &str, reason: &str) {
    let args: [DatumWithOid; 3] = [state.into(), reason.into(), generation.into()];
    client.update(queries::BACKFILL_WORKER_FINISH, None, &args).or_raise("record worker exit");
}

fn release_lease(client: &mut SpiClient<'_>, requests: u32) {
    let args: [DatumWithOid; 1] = [i64::from(requests).into()];
    client.update(queries::BACKFILL_WORKER_RELEASE, None, &args).or_raise("release lease");
}

fn extension_present() -> bool {
    transaction(|| Spi::get_one::<bool>(queries::BACKFILL_EXTENSION_PRESENT).ok().flatten().unwrap_or(false))
        .unwrap_or(false)
}

fn embedding_timeout() -> Duration {
    crate::guc::embedding_timeout()
}

/// Long enough for a whole isolated batch; a crashed worker's lease
/// merely delays rag_backfill_step on those chunks until it expires.
fn lease_for(timeout: Duration) -> Duration {
    timeout.saturating_mul(4) + Duration::from_secs(60)
}

struct BatchDone {
    embedded: i64,
    failed: i64,
    deferred: i64,
    backoff: Option<Duration>,
    report: Option<ProgressLine>,
}

/// Second transaction of a batch: re-checks the model under the
/// index_state lock, writes, records, counts the batch and narrows the lease
/// to the batches still in flight (`still_held`). None when the model
/// changed meanwhile (nothing written).
fn write_batch(
    client: &mut SpiClient<'_>,
    target: &Target,
    chunks: &[Claimed],
    iso: &Isolation<EmbedError>,
    pacing: &Pacing,
    still_held: &[i64],
) -> Option<BatchDone> {
    let now = store::lock_target(client);
    if &now != target {
        release_lease(client, iso.requests);
        return None;
    }
    let (server_failures, _) = store::server_backoff(client);
    let applied = store::apply_outcome(client, target, chunks, iso, server_failures);
    let args: [DatumWithOid; 4] = [
        applied.embedded.into(),
        applied.failed.into(),
        i64::from(iso.requests).into(),
        still_held.to_vec().into(),
    ];
    let t = client.update(queries::BACKFILL_WORKER_BATCH_DONE, None, &args).or_raise("record batch").first();
    let batches = t.get::<i64>(1).or_raise("record batch").unwrap_or(0).max(0) as u64;
    let report = if pacing.report_due(batches) {
        let c = store::counts(client, target);
        Some(ProgressLine {
            batches,
            run_embedded: 0,
            run_failed: 0,
            total: c.total,
            embedded: c.embedded,
            missing: c.missing(),
            failed: c.parked,
            rate: 0.0,
        })
    } else {
        None
    };
    Some(BatchDone {
        embedded: applied.embedded,
        failed: applied.failed,
        deferred: applied.deferred,
        backoff: applied.backoff,
        report,
    })
}
