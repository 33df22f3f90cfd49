//! `rag_search.backfill_*` settings.
//!
//! Run parameters (batch size, sleep, max chunks, report interval) are the
//! defaults of rag_backfill_start() and rag_backfill_step(); what a started
//! worker actually uses is saved in rag_search.backfill_state, so
//! rag_backfill_resume() continues with the same values. Retry and backoff
//! settings are read by whoever embeds; they are superuser-only (they pace
//! requests to a shared server) and can be set per database with ALTER
//! DATABASE; the worker also reloads the configuration file on SIGHUP.

use std::ffi::{CStr, CString};
use std::time::Duration;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use rag_core::backfill::{Mode, RetryPolicy};

pub static ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
pub static MODE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"bootstrap"));
pub static BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(64);
pub static BATCH_SLEEP_MS: GucSetting<i32> = GucSetting::<i32>::new(150);
pub static MAX_CHUNKS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static MAINTENANCE_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(32);
pub static MAINTENANCE_BATCH_SLEEP_MS: GucSetting<i32> = GucSetting::<i32>::new(100);
pub static MAINTENANCE_MAX_CHUNKS: GucSetting<i32> = GucSetting::<i32>::new(20_000);
pub static POLL_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
pub static REPORT_EVERY: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(5);
pub static RETRY_DELAY_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);
pub static RETRY_MAX_DELAY_MS: GucSetting<i32> = GucSetting::<i32>::new(3_600_000);
pub static BACKOFF_MIN_MS: GucSetting<i32> = GucSetting::<i32>::new(1_000);
pub static BACKOFF_MAX_MS: GucSetting<i32> = GucSetting::<i32>::new(60_000);

/// Largest batch one request may carry.
pub const MAX_BATCH_SIZE: i32 = 4096;
const DAY_MS: i32 = 86_400_000;

pub fn init() {
    // PostgreSQL only accepts server-start settings from a library loaded
    // at server start; without shared_preload_libraries they would be
    // meaningless anyway.
    // SAFETY: a plain read of a postmaster global.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        define_server_start_settings();
    }
    GucRegistry::define_string_guc(
        c"rag_search.backfill_mode",
        c"Default backfill worker mode: bootstrap or maintenance.",
        c"bootstrap runs until no embedding is missing, then exits; maintenance keeps polling for \
          new or changed chunks every rag_search.backfill_poll_interval.",
        &MODE,
        GucContext::Userset,
        GucFlags::default(),
    );
    define_int(
        c"rag_search.backfill_batch_size",
        c"Chunks per embedding request in bootstrap mode and for rag_backfill_step().",
        c"Default of rag_backfill_start(batch_size => ...) in bootstrap mode and of \
          rag_backfill_step(batch).",
        &BATCH_SIZE,
        1,
        MAX_BATCH_SIZE,
        GucContext::Userset,
        GucFlags::default(),
    );
    define_int(
        c"rag_search.backfill_batch_sleep",
        c"Pause between two batches of the bootstrap worker.",
        c"Leaves the embedding server room for query embeddings.",
        &BATCH_SLEEP_MS,
        0,
        DAY_MS,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    define_int(
        c"rag_search.backfill_max_chunks",
        c"Bootstrap: stop after embedding this many chunks (0: until nothing is missing).",
        c"Default of rag_backfill_start(max_chunks => ...) in bootstrap mode.",
        &MAX_CHUNKS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    define_int(
        c"rag_search.backfill_maintenance_batch_size",
        c"Chunks per embedding request in maintenance mode.",
        c"Default of rag_backfill_start(batch_size => ...) in maintenance mode.",
        &MAINTENANCE_BATCH_SIZE,
        1,
        MAX_BATCH_SIZE,
        GucContext::Userset,
        GucFlags::default(),
    );
    define_int(
        c"rag_search.backfill_maintenance_batch_sleep",
        c"Pause between two batches of the maintenance worker.",
        c"Default of rag_backfill_start(batch_sleep => ...) in maintenance mode.",
        &MAINTENANCE_BATCH_SLEEP_MS,
        0,
        DAY_MS,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    define_int(
        c"rag_search.backfill_maintenance_max_chunks",
        c"Maintenance: chunks embedded per polling round before waiting one poll interval.",
        c"Keeps a burst of new content from monopolising the embedding server (0: no limit).",
        &MAINTENANCE_MAX_CHUNKS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    define_int(
        c"rag_search.backfill_poll_interval",
        c"How often the maintenance worker looks for chunks without an embedding.",
        c"Also the longest wait before a failed chunk's retry is noticed.",
        &POLL_INTERVAL_MS,
        100,
        DAY_MS,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    define_int(
        c"rag_search.backfill_report_every",
        c"The worker logs a progress line every this many batches.",
        c"Default of rag_backfill_start(report_every => ...).",
        &REPORT_EVERY,
        1,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    define_int(
        c"rag_search.backfill_max_attempts",
        c"Failed attempts after which a chunk is parked.",
        c"Only failures of the chunk itself count (the embedding server was healthy); a parked \
          chunk counts as failed, not missing, until rag_backfill_retry_failed().",
        &MAX_ATTEMPTS,
        1,
        1000,
        GucContext::Suset,
        GucFlags::default(),
    );
    define_int(
        c"rag_search.backfill_retry_delay",
        c"Delay before a failed chunk is tried again; doubles with every failed attempt.",
        c"Capped at rag_search.backfill_retry_max_delay.",
        &RETRY_DELAY_MS,
        10,
        DAY_MS,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    define_int(
        c"rag_search.backfill_retry_max_delay",
        c"Longest delay between two attempts of a failed chunk.",
        c"",
        &RETRY_MAX_DELAY_MS,
        10,
        DAY_MS,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    define_int(
        c"rag_search.backfill_backoff_min",
        c"First pause after the embedding server failed a batch as a whole.",
        c"Unreachable, timing out, or failing even a probe request: the backfill sends nothing \
          during the pause, which doubles with every further failure up to \
          rag_search.backfill_backoff_max.",
        &BACKOFF_MIN_MS,
        10,
        DAY_MS,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    define_int(
        c"rag_search.backfill_backoff_max",
        c"Longest pause while the embedding server keeps failing.",
        c"",
        &BACKOFF_MAX_MS,
        10,
        DAY_MS,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
}

/// rag_search.backfill_enabled and rag_search.backfill_database.
fn define_server_start_settings() {
    GucRegistry::define_bool_guc(
        c"rag_search.backfill_enabled",
        c"Start the backfill worker with the server.",
        c"Needs rag_search in shared_preload_libraries. The worker connects to \
          rag_search.backfill_database and runs in rag_search.backfill_mode; a worker stopped with \
          rag_backfill_stop() stays stopped across restarts until rag_backfill_resume().",
        &ENABLED,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"rag_search.backfill_database",
        c"Database the server-started backfill worker works on.",
        c"Used only with rag_search.backfill_enabled; rag_backfill_start() always works on the \
          current database.",
        &DATABASE,
        GucContext::Postmaster,
        GucFlags::default(),
    );
}

#[allow(clippy::too_many_arguments)]
fn define_int(
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    setting: &'static GucSetting<i32>,
    min: i32,
    max: i32,
    context: GucContext,
    flags: GucFlags,
) {
    GucRegistry::define_int_guc(name, short, long, setting, min, max, context, flags);
}

fn ms(s: &GucSetting<i32>) -> Duration {
    Duration::from_millis(s.get().max(0) as u64)
}

fn string_setting(s: &GucSetting<Option<CString>>) -> Option<String> {
    s.get().map(|c: CString| c.to_string_lossy().into_owned())
}

pub fn enabled() -> bool {
    ENABLED.get()
}

pub fn database() -> String {
    string_setting(&DATABASE).unwrap_or_default()
}

/// The configured default mode; an unknown value falls back to bootstrap
/// (rag_backfill_start validates its own argument).
pub fn mode() -> Mode {
    string_setting(&MODE).and_then(|m| Mode::parse(&m).ok()).unwrap_or(Mode::Bootstrap)
}

pub fn mode_setting() -> String {
    string_setting(&MODE).unwrap_or_default()
}

/// Run defaults for `mode`: (batch size, batch sleep in ms, max chunks).
pub fn run_defaults(mode: Mode) -> (i32, i32, i64) {
    match mode {
        Mode::Bootstrap => (BATCH_SIZE.get(), BATCH_SLEEP_MS.get(), i64::from(MAX_CHUNKS.get())),
        Mode::Maintenance => (
            MAINTENANCE_BATCH_SIZE.get(),
            MAINTENANCE_BATCH_SLEEP_MS.get(),
            i64::from(MAINTENANCE_MAX_CHUNKS.get()),
        ),
    }
}

pub fn batch_size() -> i32 {
    BATCH_SIZE.get()
}

pub fn report_every() -> i32 {
    REPORT_EVERY.get()
}

pub fn poll_interval() -> Duration {
    ms(&POLL_INTERVAL_MS)
}

pub fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: MAX_ATTEMPTS.get().max(1) as u32,
        base: ms(&RETRY_DELAY_MS),
        max: ms(&RETRY_MAX_DELAY_MS).max(ms(&RETRY_DELAY_MS)),
    }
}

/// (first pause, longest pause) after whole-batch server failures.
pub fn server_backoff() -> (Duration, Duration) {
    let min = ms(&BACKOFF_MIN_MS);
    (min, ms(&BACKOFF_MAX_MS).max(min))
}
