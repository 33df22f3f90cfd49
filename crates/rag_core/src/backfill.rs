//! Embedding backfill decisions that need no database.
//!
//! The extension's `rag_backfill_step` and background worker move rows in
//! and out of PostgreSQL; everything they decide lives here: isolating a bad
//! input by splitting a failing batch, telling server trouble from a bad
//! input, retry and backoff schedules, worker pacing and the arithmetic
//! behind `rag_backfill_status()`.

use std::fmt;
use std::time::Duration;

use crate::embed::EmbedError;

/// Text of the probe request sent when a batch fails in a way that may be
/// the fault of one input: if the server embeds this, it is healthy.
pub const PROBE_TEXT: &str = "rag_search embedding probe";

/// What a failed embedding request says about the inputs it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureScope {
    /// The server could not be used (unreachable, overloaded,
    /// misconfigured): retry the whole batch later and blame no input.
    Server,
    /// The server answered wrongly or not in time: possibly because of one
    /// input. Split the batch to find out (after a probe).
    Response,
    /// The caller asked to stop.
    Cancelled,
}

/// Classifies an embedding error for batch isolation.
///
/// HTTP 500 and 4xx are answers about *this* request (Ollama reports a bad
/// input as 500), so they are worth splitting; 502/503/504/429/408 mean the
/// server or a proxy in front of it is unavailable.
pub fn failure_scope(err: &EmbedError) -> FailureScope {
    match err {
        EmbedError::Cancelled => FailureScope::Cancelled,
        EmbedError::Connect { .. } | EmbedError::Config { .. } => FailureScope::Server,
        // A timeout may be the server (down, overloaded) or one input the
        // model chokes on; only the latter must not stall the backfill
        // forever, and the probe tells them apart.
        EmbedError::Timeout { .. } => FailureScope::Response,
        EmbedError::Http { status, .. } => match status {
            408 | 429 | 502 | 503 | 504 => FailureScope::Server,
            _ => FailureScope::Response,
        },
        EmbedError::Protocol { .. } | EmbedError::Dimension { .. } | EmbedError::NonFinite { .. } => {
            FailureScope::Response
        }
    }
}

/// Sends the inputs at these indices in one request; their vectors in order.
pub type SendBatch<'a, E> = dyn FnMut(&[usize]) -> Result<Vec<Vec<f32>>, E> + 'a;

/// Result of embedding one batch with failure isolation.
#[derive(Debug)]
pub struct Isolation<E> {
    /// One slot per input: the vector, if that input was embedded.
    pub vectors: Vec<Option<Vec<f32>>>,
    /// Inputs that failed on their own while the server was shown healthy.
    pub failures: Vec<(usize, E)>,
    /// Server-level trouble: inputs neither embedded nor failed wait for a
    /// later attempt, and no input is blamed.
    pub deferred: Option<E>,
    /// The caller's cancel fired; the batch was abandoned.
    pub cancelled: bool,
    /// Embedding requests sent, the probe included.
    pub requests: u32,
}

impl<E> Isolation<E> {
    pub fn embedded(&self) -> usize {
        self.vectors.iter().filter(|v| v.is_some()).count()
    }

    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// Inputs neither embedded nor failed.
    pub fn deferred_count(&self) -> usize {
        self.vectors.len() - self.embedded() - self.failed()
    }
}

/// Embeds inputs `0..n`, isolating bad inputs.
///
/// `embed` gets the indices of the inputs to send in one request and
/// returns their vectors in order. The whole batch goes first. If it fails
/// with a [`FailureScope::Response`] error, one probe request (`probe`)
/// checks that the server works at all: if the probe fails too, the batch is
/// deferred (a broken server must not mark every chunk failed); if it
/// succeeds, the batch is split in halves recursively and only the halves
/// that fail are split again, so one poison input among 64 costs about
/// `2 + 2·log2(64)` requests and its 63 neighbours are embedded. A
/// [`FailureScope::Server`] error at any point stops the work and defers
/// whatever is unresolved; inputs already embedded are kept.
pub fn embed_isolating<E>(
    n: usize,
    embed: &mut SendBatch<'_, E>,
    probe: &mut dyn FnMut() -> Result<(), E>,
    scope: &dyn Fn(&E) -> FailureScope,
) -> Isolation<E> {
    let mut run = Run {
        out: Isolation {
            vectors: (0..n).map(|_| None).collect(),
            failures: Vec::new(),
            deferred: None,
            cancelled: false,
            requests: 0,
        },
        embed,
        scope,
    };
    if n == 0 {
        return run.out;
    }
    let all: Vec<usize> = (0..n).collect();
    let err = match run.send(&all) {
        Sent::Done | Sent::Stopped => return run.out,
        Sent::Failed(e) => e,
    };
    run.out.requests += 1;
    match probe() {
        Ok(()) => run.isolate(&all, err),
        Err(probe_err) => {
            if (run.scope)(&probe_err) == FailureScope::Cancelled {
                run.out.cancelled = true;
            }
            // The batch's own error says more than the probe's (e.g. which
            // input produced NaN).
            run.out.deferred = Some(err);
        }
    }
    run.out
}

struct Run<'a, E> {
    out: Isolation<E>,
    embed: &'a mut SendBatch<'a, E>,
    scope: &'a dyn Fn(&E) -> FailureScope,
}

enum Sent<E> {
    Done,
    /// Server trouble or cancel: recorded in `out`, stop everything.
    Stopped,
    /// A response-level failure for this subset.
    Failed(E),
}

impl<E> Run<'_, E> {
    fn stopped(&self) -> bool {
        self.out.deferred.is_some() || self.out.cancelled
    }

    fn send(&mut self, idx: &[usize]) -> Sent<E> {
        self.out.requests += 1;
        match (self.embed)(idx) {
            Ok(vectors) => {
                // A well-behaved client returns exactly one vector per
                // input; anything missing simply stays unresolved.
                for (&i, v) in idx.iter().zip(vectors) {
                    self.out.vectors[i] = Some(v);
                }
                Sent::Done
            }
            Err(e) => match (self.scope)(&e) {
                FailureScope::Response => Sent::Failed(e),
                FailureScope::Server => {
                    self.out.deferred = Some(e);
                    Sent::Stopped
                }
                FailureScope::Cancelled => {
                    self.out.cancelled = true;
                    self.out.deferred = Some(e);
                    Sent::Stopped
                }
            },
        }
    }

    /// `idx` failed with `err`: blame it if it is one input, else split.
    fn isolate(&mut self, idx: &[usize], err: E) {
        if idx.len() == 1 {
            self.out.failures.push((idx[0], err));
            return;
        }
        let (left, right) = idx.split_at(idx.len() / 2);
        for half in [left, right] {
            if self.stopped() {
                return;
            }
            if let Sent::Failed(e) = self.send(half) {
                self.isolate(half, e);
            }
        }
    }
}

/// `base · 2^(n-1)`, capped at `max` (n = 1 gives `base`).
pub fn backoff_delay(n: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// When a chunk whose embedding failed on its own is tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// After this many failed attempts the chunk is parked.
    pub max_attempts: u32,
    /// Delay after the first failure; doubles with every further one.
    pub base: Duration,
    pub max: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextAttempt {
    RetryAfter(Duration),
    /// No more automatic attempts: counted as failed until an operator
    /// calls rag_backfill_retry_failed().
    Park,
}

impl RetryPolicy {
    /// Schedule after the `attempts`-th failed attempt (1 for the first).
    pub fn after_failure(&self, attempts: u32) -> NextAttempt {
        if attempts >= self.max_attempts.max(1) {
            NextAttempt::Park
        } else {
            NextAttempt::RetryAfter(backoff_delay(attempts, self.base, self.max))
        }
    }
}

/// Worker mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Runs until nothing is missing, then exits.
    Bootstrap,
    /// Keeps polling for new or changed chunks.
    Maintenance,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bootstrap" => Ok(Mode::Bootstrap),
            "maintenance" => Ok(Mode::Maintenance),
            _ => Err(format!("unknown backfill mode \"{s}\"; valid values: bootstrap, maintenance")),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Bootstrap => "bootstrap",
            Mode::Maintenance => "maintenance",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a worker run paces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    pub mode: Mode,
    pub batch_size: u32,
    pub batch_sleep: Duration,
    /// Bootstrap: stop after embedding this many chunks. Maintenance: embed
    /// at most this many per polling round, then wait one poll interval.
    /// 0 = no limit.
    pub max_chunks: u64,
    pub report_every: u32,
    pub poll_interval: Duration,
}

/// What the worker does after a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextMove {
    /// Claim the next batch after this pause.
    Continue(Duration),
    /// Nothing to do for now: wait this long before claiming again.
    Wait(Duration),
    Finish(FinishReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// Bootstrap: nothing is missing any more (parked chunks aside).
    Done,
    /// Bootstrap: max_chunks were embedded.
    MaxChunks,
}

impl FinishReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            FinishReason::Done => "finished",
            FinishReason::MaxChunks => "max_chunks",
        }
    }
}

/// What the last claim and batch looked like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Chunks claimed by the last claim (0: nothing claimable).
    pub claimed: u64,
    /// Embedded in this run / in this polling round.
    pub run_embedded: u64,
    pub round_embedded: u64,
    /// Time until the earliest failed chunk may be retried, if any is waiting.
    pub next_retry_in: Option<Duration>,
}

/// Longest single wait: the worker rechecks the stop flag at least this often.
pub const MAX_WAIT_SLICE: Duration = Duration::from_millis(500);

impl Pacing {
    pub fn next_move(&self, p: &Progress) -> NextMove {
        let limit = self.max_chunks;
        match self.mode {
            Mode::Bootstrap => {
                if limit > 0 && p.run_embedded >= limit {
                    return NextMove::Finish(FinishReason::MaxChunks);
                }
                if p.claimed > 0 {
                    return NextMove::Continue(self.batch_sleep);
                }
                match p.next_retry_in {
                    // Failed chunks still due for a retry keep bootstrap alive.
                    Some(d) => NextMove::Wait(d.max(Duration::from_millis(10))),
                    None => NextMove::Finish(FinishReason::Done),
                }
            }
            Mode::Maintenance => {
                if limit > 0 && p.round_embedded >= limit {
                    return NextMove::Wait(self.poll_interval);
                }
                if p.claimed > 0 {
                    return NextMove::Continue(self.batch_sleep);
                }
                let wait = match p.next_retry_in {
                    Some(d) => d.min(self.poll_interval),
                    None => self.poll_interval,
                };
                NextMove::Wait(wait.max(Duration::from_millis(10)))
            }
        }
    }

    /// Log a progress line after this many batches of the run?
    pub fn report_due(&self, batches_done: u64) -> bool {
        self.report_every > 0 && batches_done > 0 && batches_done.is_multiple_of(u64::from(self.report_every))
    }
}

/// Worker state as shown by rag_backfill_status().
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    Running,
    Stopping,
    Stopped,
    Idle,
    /// Recorded as running, but no process holds the worker lock.
    Crashed,
}

impl WorkerState {
    pub fn as_str(&self) -> &'static str {
        match self {
            WorkerState::Running => "running",
            WorkerState::Stopping => "stopping",
            WorkerState::Stopped => "stopped",
            WorkerState::Idle => "idle",
            WorkerState::Crashed => "crashed",
        }
    }
}

/// Derives the reported state from the recorded one (`idle`, `starting`,
/// `running`, `stopped`, `finished`), the stop flag, and whether a process
/// holds the worker lock right now — None where that cannot be known: a hot
/// standby replays the primary's recorded state but cannot see the
/// primary's locks, so it reports what the primary recorded.
pub fn derive_state(recorded: &str, stop_requested: bool, alive: Option<bool>) -> WorkerState {
    let alive = alive.unwrap_or(matches!(recorded, "running" | "starting"));
    match (alive, recorded) {
        (true, _) if stop_requested => WorkerState::Stopping,
        (true, _) => WorkerState::Running,
        (false, "running" | "starting") => WorkerState::Crashed,
        (false, "stopped") => WorkerState::Stopped,
        (false, _) => WorkerState::Idle,
    }
}

/// Chunks per second from `recent` chunks embedded over `span` seconds.
pub fn chunks_per_second(recent: i64, span_secs: f64) -> f64 {
    if recent <= 0 || !span_secs.is_finite() {
        return 0.0;
    }
    // A window shorter than a second says little: count it as one second.
    recent as f64 / span_secs.max(1.0)
}

/// Seconds until `missing` chunks are done at `rate` chunks/s; None when
/// no progress is being made.
pub fn eta_seconds(missing: i64, rate: f64) -> Option<f64> {
    if missing <= 0 {
        return Some(0.0);
    }
    if rate > 0.0 && rate.is_finite() {
        Some((missing as f64 / rate).ceil())
    } else {
        None
    }
}

/// Coverage in hundredths of a percent, truncated (not rounded) so that
/// 100.00% is only shown when nothing is missing. An empty table is 100%.
pub fn coverage_hundredths(embedded: i64, total: i64) -> i64 {
    if total <= 0 {
        return 10_000;
    }
    // Counters that drifted (embeddings written by hand) must not make
    // status fail: clamp to [0, 100] %.
    ((embedded.clamp(0, total) as i128 * 10_000) / total as i128) as i64
}

/// Coverage in percent with two decimals (see [`coverage_hundredths`]).
pub fn coverage_pct(embedded: i64, total: i64) -> f64 {
    coverage_hundredths(embedded, total) as f64 / 100.0
}

/// Coverage as exact decimal text, e.g. "99.99", for SQL numeric.
pub fn coverage_text(embedded: i64, total: i64) -> String {
    let h = coverage_hundredths(embedded, total);
    format!("{}.{:02}", h / 100, h % 100)
}

/// Counters for one progress line in the server log.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProgressLine {
    pub batches: u64,
    pub run_embedded: u64,
    pub run_failed: u64,
    pub total: i64,
    pub embedded: i64,
    pub missing: i64,
    pub failed: i64,
    pub rate: f64,
}

impl fmt::Display for ProgressLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let eta = match eta_seconds(self.missing, self.rate) {
            Some(s) => format!("{s:.0}s"),
            None => "unknown".to_string(),
        };
        write!(
            f,
            "rag_search backfill progress: {} batches, {} embedded and {} failed in this run; \
             {}/{} chunks embedded ({:.2}%), {} missing, {} failed; {:.1} chunks/s, ETA {}",
            self.batches,
            self.run_embedded,
            self.run_failed,
            self.embedded,
            self.total,
            coverage_pct(self.embedded, self.total),
            self.missing,
            self.failed,
            self.rate,
            eta
        )
    }
}

/// What a dynamic worker is told at launch (through `bgw_extra`, which
/// holds at most 127 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchTicket {
    /// The state row's generation the launcher wrote; the worker serves only
    /// that generation, so a launch whose transaction rolled back, or that a
    /// later launch superseded, ends at once.
    pub generation: i64,
}

impl LaunchTicket {
    pub fn encode(&self) -> String {
        format!("generation={}", self.generation)
    }

    pub fn decode(s: &str) -> Option<LaunchTicket> {
        let value = s.trim().strip_prefix("generation=")?;
        value.parse().ok().map(|generation| LaunchTicket { generation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Debug, Clone, PartialEq)]
    enum FakeErr {
        Poison,
        Down,
        Broken,
        Cancel,
    }

    fn fake_scope(e: &FakeErr) -> FailureScope {
        match e {
            FakeErr::Poison | FakeErr::Broken => FailureScope::Response,
            FakeErr::Down => FailureScope::Server,
            FakeErr::Cancel => FailureScope::Cancelled,
        }
    }

    fn vec_for(i: usize) -> Vec<f32> {
        vec![i as f32]
    }

    /// A server where the inputs in `poison` make any request fail.
    fn run_with_poison(n: usize, poison: &[usize]) -> (Isolation<FakeErr>, u32) {
        let requests = RefCell::new(0u32);
        let mut embed = |idx: &[usize]| {
            *requests.borrow_mut() += 1;
            if idx.iter().any(|i| poison.contains(i)) {
                Err(FakeErr::Poison)
            } else {
                Ok(idx.iter().map(|&i| vec_for(i)).collect())
            }
        };
        let mut probe = || {
            *requests.borrow_mut() += 1;
            Ok(())
        };
        let out = embed_isolating(n, &mut embed, &mut probe, &fake_scope);
        let r = *requests.borrow();
        (out, r)
    }

    #[test]
    fn backfill_healthy_batch_is_one_request() {
        let (out, requests) = run_with_poison(64, &[]);
        assert_eq!(requests, 1);
        assert_eq!(out.requests, 1);
        assert_eq!(out.embedded(), 64);
        assert!(out.failures.is_empty() && out.deferred.is_none());
        assert_eq!(out.vectors[17], Some(vec_for(17)));
    }

    #[test]
    fn backfill_one_poison_input_is_isolated_cheaply() {
        let (out, requests) = run_with_poison(64, &[37]);
        assert_eq!(out.embedded(), 63);
        assert_eq!(out.failed(), 1);
        assert_eq!(out.failures[0].0, 37);
        assert_eq!(out.deferred_count(), 0);
        // full + probe + two requests per halving level (6 levels).
        assert_eq!(requests, 2 + 2 * 6);
        assert_eq!(out.requests, requests);
        assert!(out.vectors[37].is_none());
    }

    #[test]
    fn backfill_two_poison_inputs_in_different_halves() {
        let (out, requests) = run_with_poison(64, &[3, 60]);
        assert_eq!(out.embedded(), 62);
        let mut failed: Vec<usize> = out.failures.iter().map(|f| f.0).collect();
        failed.sort();
        assert_eq!(failed, vec![3, 60]);
        assert!(requests <= 2 + 2 * 2 * 6);
    }

    #[test]
    fn backfill_single_poison_input_alone() {
        let (out, requests) = run_with_poison(1, &[0]);
        assert_eq!((out.embedded(), out.failed(), requests), (0, 1, 2));
        let (out, requests) = run_with_poison(2, &[1]);
        assert_eq!((out.embedded(), out.failed(), requests), (1, 1, 4));
    }

    #[test]
    fn backfill_broken_server_defers_without_blaming_inputs() {
        let requests = RefCell::new(0u32);
        let mut embed = |_: &[usize]| -> Result<Vec<Vec<f32>>, FakeErr> {
            *requests.borrow_mut() += 1;
            Err(FakeErr::Broken)
        };
        let mut probe = || {
            *requests.borrow_mut() += 1;
            Err(FakeErr::Broken)
        };
        let out = embed_isolating(64, &mut embed, &mut probe, &fake_scope);
        assert_eq!(*requests.borrow(), 2, "batch + probe, no splitting");
        assert_eq!(out.deferred, Some(FakeErr::Broken));
        assert!(out.failures.is_empty());
        assert_eq!(out.deferred_count(), 64);
    }

    #[test]
    fn backfill_unreachable_server_is_one_request() {
        let mut calls = 0;
        let mut embed = |_: &[usize]| -> Result<Vec<Vec<f32>>, FakeErr> {
            calls += 1;
            Err(FakeErr::Down)
        };
        let mut probe = || -> Result<(), FakeErr> { panic!("no probe for an unreachable server") };
        let out = embed_isolating(64, &mut embed, &mut probe, &fake_scope);
        assert_eq!(calls, 1);
        assert_eq!(out.requests, 1);
        assert_eq!(out.deferred, Some(FakeErr::Down));
        assert_eq!(out.deferred_count(), 64);
    }

    #[test]
    fn backfill_server_dies_during_isolation_keeps_what_was_embedded() {
        // Request 1 fails (poison), probe ok, left half ok, right half: down.
        let mut call = 0;
        let mut embed = |idx: &[usize]| {
            call += 1;
            match call {
                1 => Err(FakeErr::Poison),
                2 => Ok(idx.iter().map(|&i| vec_for(i)).collect()),
                _ => Err(FakeErr::Down),
            }
        };
        let mut probe = || Ok(());
        let out = embed_isolating(8, &mut embed, &mut probe, &fake_scope);
        assert_eq!(out.embedded(), 4);
        assert_eq!(out.failed(), 0);
        assert_eq!(out.deferred, Some(FakeErr::Down));
        assert_eq!(out.deferred_count(), 4);
    }

    #[test]
    fn backfill_transient_batch_failure_then_healthy_halves() {
        let mut call = 0;
        let mut embed = |idx: &[usize]| {
            call += 1;
            if call == 1 {
                Err(FakeErr::Broken)
            } else {
                Ok(idx.iter().map(|&i| vec_for(i)).collect())
            }
        };
        let mut probe = || Ok(());
        let out = embed_isolating(16, &mut embed, &mut probe, &fake_scope);
        assert_eq!((out.embedded(), out.failed(), out.requests), (16, 0, 4));
    }

    #[test]
    fn backfill_cancel_stops_at_once() {
        let mut calls = 0;
        let mut embed = |_: &[usize]| -> Result<Vec<Vec<f32>>, FakeErr> {
            calls += 1;
            Err(FakeErr::Cancel)
        };
        let mut probe = || Ok(());
        let out = embed_isolating(8, &mut embed, &mut probe, &fake_scope);
        assert!(out.cancelled);
        assert_eq!(calls, 1);
        assert_eq!(out.embedded(), 0);
    }

    #[test]
    fn backfill_empty_batch_sends_nothing() {
        let mut embed = |_: &[usize]| -> Result<Vec<Vec<f32>>, FakeErr> { panic!("no request") };
        let mut probe = || -> Result<(), FakeErr> { panic!("no probe") };
        let out = embed_isolating(0, &mut embed, &mut probe, &fake_scope);
        assert_eq!(out.requests, 0);
    }

    #[test]
    fn backfill_error_scopes() {
        let http = |status| EmbedError::Http { status, model: "m".into(), url: "u".into(), body: String::new() };
        assert_eq!(failure_scope(&http(500)), FailureScope::Response);
        assert_eq!(failure_scope(&http(400)), FailureScope::Response);
        assert_eq!(failure_scope(&http(503)), FailureScope::Server);
        assert_eq!(failure_scope(&http(429)), FailureScope::Server);
        let timeout = EmbedError::Timeout { model: "m".into(), url: "u".into(), after: Duration::from_secs(1) };
        assert_eq!(failure_scope(&timeout), FailureScope::Response);
        let connect = EmbedError::Connect { model: "m".into(), url: "u".into(), detail: "refused".into() };
        assert_eq!(failure_scope(&connect), FailureScope::Server);
        let nan = EmbedError::NonFinite { model: "m".into(), url: "u".into(), detail: String::new() };
        assert_eq!(failure_scope(&nan), FailureScope::Response);
        assert_eq!(failure_scope(&EmbedError::Cancelled), FailureScope::Cancelled);
    }

    #[test]
    fn backfill_backoff_doubles_and_caps() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        assert_eq!(backoff_delay(0, base, max), base);
        assert_eq!(backoff_delay(1, base, max), base);
        assert_eq!(backoff_delay(2, base, max), Duration::from_millis(200));
        assert_eq!(backoff_delay(4, base, max), Duration::from_millis(800));
        assert_eq!(backoff_delay(5, base, max), max);
        assert_eq!(backoff_delay(200, base, max), max);
        // Huge exponents saturate instead of overflowing.
        assert!(backoff_delay(40, Duration::from_secs(3600), Duration::MAX) > Duration::from_secs(3600 << 31));
        assert_eq!(backoff_delay(u32::MAX, Duration::MAX, Duration::MAX), Duration::MAX);
    }

    #[test]
    fn backfill_retry_policy_parks_after_max_attempts() {
        let p = RetryPolicy { max_attempts: 3, base: Duration::from_secs(60), max: Duration::from_secs(3600) };
        assert_eq!(p.after_failure(1), NextAttempt::RetryAfter(Duration::from_secs(60)));
        assert_eq!(p.after_failure(2), NextAttempt::RetryAfter(Duration::from_secs(120)));
        assert_eq!(p.after_failure(3), NextAttempt::Park);
        assert_eq!(p.after_failure(9), NextAttempt::Park);
        let once = RetryPolicy { max_attempts: 1, ..p };
        assert_eq!(once.after_failure(1), NextAttempt::Park);
    }

    fn pacing(mode: Mode, max_chunks: u64) -> Pacing {
        Pacing {
            mode,
            batch_size: 64,
            batch_sleep: Duration::from_millis(150),
            max_chunks,
            report_every: 10,
            poll_interval: Duration::from_secs(10),
        }
    }

    #[test]
    fn backfill_bootstrap_pacing() {
        let p = pacing(Mode::Bootstrap, 0);
        let busy = Progress { claimed: 64, run_embedded: 640, ..Default::default() };
        assert_eq!(p.next_move(&busy), NextMove::Continue(Duration::from_millis(150)));
        let done = Progress { claimed: 0, run_embedded: 5000, ..Default::default() };
        assert_eq!(p.next_move(&done), NextMove::Finish(FinishReason::Done));
        let waiting = Progress { claimed: 0, next_retry_in: Some(Duration::from_secs(3)), ..Default::default() };
        assert_eq!(p.next_move(&waiting), NextMove::Wait(Duration::from_secs(3)));
        let capped = pacing(Mode::Bootstrap, 1000);
        let over = Progress { claimed: 64, run_embedded: 1024, ..Default::default() };
        assert_eq!(capped.next_move(&over), NextMove::Finish(FinishReason::MaxChunks));
    }

    #[test]
    fn backfill_maintenance_pacing() {
        let p = pacing(Mode::Maintenance, 20_000);
        let busy = Progress { claimed: 32, run_embedded: 100, round_embedded: 100, ..Default::default() };
        assert_eq!(p.next_move(&busy), NextMove::Continue(Duration::from_millis(150)));
        let idle = Progress::default();
        assert_eq!(p.next_move(&idle), NextMove::Wait(Duration::from_secs(10)));
        let burst = Progress { claimed: 32, round_embedded: 20_000, ..Default::default() };
        assert_eq!(p.next_move(&burst), NextMove::Wait(Duration::from_secs(10)));
        let retry_soon = Progress { next_retry_in: Some(Duration::from_secs(2)), ..Default::default() };
        assert_eq!(p.next_move(&retry_soon), NextMove::Wait(Duration::from_secs(2)));
        assert!(p.report_due(10) && p.report_due(20) && !p.report_due(0) && !p.report_due(11));
    }

    #[test]
    fn backfill_state_derivation() {
        assert_eq!(derive_state("running", false, Some(true)), WorkerState::Running);
        assert_eq!(derive_state("running", true, Some(true)), WorkerState::Stopping);
        assert_eq!(derive_state("running", false, Some(false)), WorkerState::Crashed);
        assert_eq!(derive_state("starting", false, Some(false)), WorkerState::Crashed);
        assert_eq!(derive_state("stopped", false, Some(false)), WorkerState::Stopped);
        assert_eq!(derive_state("finished", false, Some(false)), WorkerState::Idle);
        assert_eq!(derive_state("idle", false, Some(false)), WorkerState::Idle);
        // On a hot standby: the primary's recorded state.
        assert_eq!(derive_state("running", false, None), WorkerState::Running);
        assert_eq!(derive_state("starting", false, None), WorkerState::Running);
        assert_eq!(derive_state("running", true, None), WorkerState::Stopping);
        assert_eq!(derive_state("stopped", false, None), WorkerState::Stopped);
        assert_eq!(derive_state("finished", false, None), WorkerState::Idle);
    }

    #[test]
    fn backfill_status_arithmetic() {
        assert_eq!(coverage_pct(0, 0), 100.0);
        assert_eq!(coverage_pct(5000, 5000), 100.0);
        // 99.996% must not read as 100.00.
        assert_eq!(coverage_pct(24_999, 25_000), 99.99);
        assert_eq!(coverage_pct(1, 3), 33.33);
        assert_eq!(coverage_text(1, 3), "33.33");
        assert_eq!(coverage_text(5000, 5000), "100.00");
        assert_eq!(coverage_text(1, 200), "0.50");
        assert_eq!(coverage_text(0, 0), "100.00");
        assert_eq!(coverage_text(500, 20), "100.00");
        assert_eq!(coverage_text(-5, 20), "0.00");
        assert_eq!(chunks_per_second(600, 60.0), 10.0);
        assert_eq!(chunks_per_second(50, 0.2), 50.0);
        assert_eq!(chunks_per_second(0, 60.0), 0.0);
        assert_eq!(eta_seconds(1000, 10.0), Some(100.0));
        assert_eq!(eta_seconds(0, 0.0), Some(0.0));
        assert_eq!(eta_seconds(10, 0.0), None);
    }

    #[test]
    fn backfill_progress_line_and_ticket() {
        let line = ProgressLine {
            batches: 10,
            run_embedded: 640,
            run_failed: 1,
            total: 5000,
            embedded: 640,
            missing: 4359,
            failed: 1,
            rate: 100.0,
        }
        .to_string();
        assert!(line.contains("10 batches"), "{line}");
        assert!(line.contains("640/5000 chunks embedded (12.80%)"), "{line}");
        assert!(line.contains("ETA 44s"), "{line}");
        let t = LaunchTicket { generation: 42 };
        assert_eq!(LaunchTicket::decode(&t.encode()), Some(t));
        assert_eq!(LaunchTicket::decode("bogus"), None);
        assert!(t.encode().len() < 128);
        assert_eq!(Mode::parse(" Maintenance "), Ok(Mode::Maintenance));
        assert!(Mode::parse("fast").is_err());
    }
}
