//! rag_backfill_start, rag_backfill_stop, rag_backfill_resume.
//!
//! Execution is revoked from PUBLIC and granted to rag_search_admin
//! (sql/backfill_api.sql): superusers and members of that role operate the
//! backfill.

use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorkerBuilder, DynamicBackgroundWorker};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::PgSqlErrorCode;
use rag_core::backfill::{LaunchTicket, Mode};

use super::settings::{self, MAX_BATCH_SIZE};
use super::store;
use crate::error::{invalid_parameter, raise, OrRaise};
use crate::queries;

/// Name and type of the worker process (pg_stat_activity.backend_type).
pub const WORKER_NAME: &str = "rag_search backfill";
pub const WORKER_FUNCTION: &str = "rag_backfill_worker_main";

/// How long start/resume wait for the new worker to take its lock.
const STARTUP_WAIT: Duration = Duration::from_secs(15);

type ControlRow = (bool, Option<i32>, String, String, String);

/// Parameters of one run, as saved in rag_search.backfill_state.
#[derive(Clone, Debug)]
struct RunParams {
    mode: Mode,
    batch_size: i32,
    batch_sleep_ms: i32,
    max_chunks: i64,
    report_every: i32,
}

/// Starts the background worker for the current database. NULL arguments
/// take the settings' defaults for the mode (rag_search.backfill_mode,
/// rag_search.backfill_batch_size / _batch_sleep / _max_chunks, or their
/// maintenance_ variants, rag_search.backfill_report_every).
///
/// Returns at once. If a worker is already running for this database, no
/// second one is started: the row reports the running one (started =
/// false).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn rag_backfill_start(
    mode: default!(Option<&str>, "NULL"),
    batch_size: default!(Option<i32>, "NULL"),
    batch_sleep_ms: default!(Option<i32>, "NULL"),
    max_chunks: default!(Option<i64>, "NULL"),
    report_every: default!(Option<i32>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(started, bool),
        name!(pid, Option<i32>),
        name!(state, String),
        name!(mode, String),
        name!(message, String),
    ),
> {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_backfill_start()");
    let mode = match mode {
        Some(m) => Mode::parse(m).unwrap_or_else(|e| invalid_parameter(e, "Use 'bootstrap' or 'maintenance'.")),
        None => Mode::parse(&settings::mode_setting()).unwrap_or_else(|e| {
            invalid_parameter(format!("rag_search.backfill_mode: {e}"), "Use 'bootstrap' or 'maintenance'.")
        }),
    };
    let (default_batch, default_sleep, default_max) = settings::run_defaults(mode);
    let params = RunParams {
        mode,
        batch_size: batch_size.unwrap_or(default_batch),
        batch_sleep_ms: batch_sleep_ms.unwrap_or(default_sleep),
        max_chunks: max_chunks.unwrap_or(default_max),
        report_every: report_every.unwrap_or_else(settings::report_every),
    };
    validate(&params);
    let row = Spi::connect_mut(|client| {
        if let Some(pid) = store::worker_holder(client) {
            return already_running(client, pid);
        }
        launch(client, &params, true)
    });
    TableIterator::once(row)
}

/// Asks the worker of this database to stop after its current batch and
/// returns at once. The backfill then stays stopped, also across server
/// restarts (a worker started with the server does not start either), until
/// rag_backfill_resume().
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn rag_backfill_stop() -> TableIterator<
    'static,
    (name!(stop_requested, bool), name!(pid, Option<i32>), name!(state, String)),
> {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_backfill_stop()");
    let row = Spi::connect_mut(|client| {
        let alive = store::worker_holder(client);
        let args: [DatumWithOid; 1] = [alive.is_some().into()];
        client.update(queries::BACKFILL_STOP, None, &args).or_raise("request stop");
        match alive {
            Some(pid) => (true, Some(pid), "stopping".to_string()),
            None => (false, None, "stopped".to_string()),
        }
    });
    TableIterator::once(row)
}

/// Continues the backfill with the parameters of the last run (mode, batch
/// size, sleep, max chunks, report interval). Progress lives in the chunks
/// themselves, so the new worker simply picks up what is still missing,
/// also after a server restart or a crash. On a worker that has not yet
/// acted on a stop request, the request is withdrawn.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn rag_backfill_resume() -> TableIterator<
    'static,
    (
        name!(started, bool),
        name!(pid, Option<i32>),
        name!(state, String),
        name!(mode, String),
        name!(message, String),
    ),
> {
    crate::security::require_current_schema();
    crate::security::require_writable("rag_backfill_resume()");
    let row = Spi::connect_mut(|client| {
        if let Some(pid) = store::worker_holder(client) {
            let withdrawn = !client
                .update(queries::BACKFILL_CANCEL_STOP, None, &[])
                .or_raise("withdraw stop request")
                .is_empty();
            if withdrawn {
                let mode = saved_run(client).mode;
                return (false, Some(pid), "running".to_string(), mode.to_string(), "stop request withdrawn".to_string());
            }
            return already_running(client, pid);
        }
        let params = saved_run(client);
        launch(client, &params, false)
    });
    TableIterator::once(row)
}

fn validate(p: &RunParams) {
    if !(1..=MAX_BATCH_SIZE).contains(&p.batch_size) {
        invalid_parameter(
            format!("batch_size {} is out of range [1, {MAX_BATCH_SIZE}]", p.batch_size),
            "The reference values are 64 (bootstrap) and 32 (maintenance).",
        );
    }
    if !(0..=86_400_000).contains(&p.batch_sleep_ms) {
        invalid_parameter(
            format!("batch_sleep_ms {} is out of range [0, 86400000]", p.batch_sleep_ms),
            "The reference values are 150 (bootstrap) and 100 (maintenance).",
        );
    }
    if p.max_chunks < 0 {
        invalid_parameter("max_chunks must not be negative", "Pass 0 for no limit.");
    }
    if p.report_every < 1 {
        invalid_parameter("report_every must be at least 1", "A progress line every 10 batches is the default.");
    }
}

fn saved_run(client: &SpiClient<'_>) -> RunParams {
    let t = client.select(queries::BACKFILL_SAVED_RUN, None, &[]).or_raise("read saved run").first();
    let mode = t.get::<String>(1).or_raise("read saved run").unwrap_or_default();
    RunParams {
        mode: Mode::parse(&mode).unwrap_or(Mode::Bootstrap),
        batch_size: t.get::<i32>(2).or_raise("read saved run").unwrap_or(64),
        batch_sleep_ms: t.get::<i32>(3).or_raise("read saved run").unwrap_or(150),
        max_chunks: t.get::<i64>(4).or_raise("read saved run").unwrap_or(0),
        report_every: t.get::<i32>(5).or_raise("read saved run").unwrap_or(10),
    }
}

fn already_running(client: &SpiClient<'_>, pid: i32) -> ControlRow {
    let mode = saved_run(client).mode;
    notice!("a backfill worker is already running for this database (pid {pid})");
    (
        false,
        Some(pid),
        "running".to_string(),
        mode.to_string(),
        format!("already running (pid {pid})"),
    )
}

/// Records the launch and starts a dynamic worker for this database; waits
/// until the worker holds the worker lock, so status reports it at once.
fn launch(client: &mut SpiClient<'_>, p: &RunParams, reset_counters: bool) -> ControlRow {
    let args: [DatumWithOid; 6] = [
        p.mode.as_str().into(),
        p.batch_size.into(),
        p.batch_sleep_ms.into(),
        p.max_chunks.into(),
        p.report_every.into(),
        reset_counters.into(),
    ];
    let generation = client
        .update(queries::BACKFILL_LAUNCH, None, &args)
        .or_raise("record launch")
        .first()
        .get_one::<i64>()
        .or_raise("record launch")
        .unwrap_or(0);
    // SAFETY: plain reads of process globals.
    let (database, my_pid) = unsafe { (pg_sys::MyDatabaseId, pg_sys::MyProcPid) };
    let handle = BackgroundWorkerBuilder::new(WORKER_NAME)
        .set_type(WORKER_NAME)
        .set_library("rag_search")
        .set_function(WORKER_FUNCTION)
        .enable_spi_access()
        .set_argument(Some(pg_sys::Datum::from(database.to_u32())))
        .set_extra(&LaunchTicket { generation }.encode())
        .set_notify_pid(my_pid)
        .load_dynamic();
    let handle = match handle {
        Ok(h) => h,
        Err(_) => raise(
            PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            "could not start the backfill worker: no background worker slot is free",
            "Raise max_worker_processes (needs a restart), or stop other background workers.",
        ),
    };
    let pid = match handle.wait_for_startup() {
        Ok(pid) => pid,
        Err(status) => raise(
            PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
            format!("the backfill worker did not start ({status:?})"),
            "See the server log.",
        ),
    };
    if !wait_for_lock(client, &handle, pid) {
        let holder = store::worker_holder(client);
        return match holder {
            Some(other) => already_running(client, other),
            None => raise(
                PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
                format!("the backfill worker (pid {pid}) exited during startup"),
                "See the server log.",
            ),
        };
    }
    let args: [DatumWithOid; 2] = [pid.into(), generation.into()];
    client.update(queries::BACKFILL_LAUNCH_PID, None, &args).or_raise("record worker pid");
    (true, Some(pid), "running".to_string(), p.mode.to_string(), format!("started (pid {pid})"))
}

/// Waits until `pid` holds the worker lock (true), or it exits or another
/// process holds the lock (false). Interruptible.
fn wait_for_lock(client: &SpiClient<'_>, handle: &DynamicBackgroundWorker, pid: i32) -> bool {
    let deadline = Instant::now() + STARTUP_WAIT;
    while Instant::now() < deadline {
        match store::worker_holder(client) {
            Some(holder) if holder == pid => return true,
            Some(_) => return false,
            None => {}
        }
        if handle.pid().is_err() {
            return false;
        }
        // SAFETY: the backend's own latch; interrupts are serviced below.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                10,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pg_sys::check_for_interrupts!();
    }
    false
}
