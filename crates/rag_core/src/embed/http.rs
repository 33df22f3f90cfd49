//! One HTTP exchange on a worker thread, so the caller can stay responsive.
//!
//! The caller's `cancel` may touch non-thread-safe state (PostgreSQL
//! interrupts), so only the calling thread ever invokes it; the worker does
//! nothing but the HTTP exchange and sends one message back. A cancelled or
//! timed-out worker is abandoned and ends when ureq's own timeout fires.

use std::io::{self, Read};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How often the caller checks `cancel` while waiting.
const POLL: Duration = Duration::from_millis(100);
/// Cap on a success body (a 256-input batch of 4096-dim vectors is ~25 MB).
const MAX_BODY: u64 = 256 * 1024 * 1024;
/// Error bodies are only read for a snippet.
const MAX_ERROR_BODY: u64 = 64 * 1024;

pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Transport-level failure, before model/URL context is added.
#[derive(Debug)]
pub(crate) enum Failure {
    Timeout,
    Cancelled,
    Connect(String),
    Config(String),
    Protocol(String),
}

pub(crate) struct Exchange {
    pub agent: ureq::Agent,
    pub method: &'static str,
    pub url: String,
    pub authorization: Option<String>,
    pub body: Option<Vec<u8>>,
}

/// Runs `ex` on a worker thread; returns when it answers, when `cancel()`
/// turns true (checked every 100 ms) or when `timeout` has passed.
pub(crate) fn run(
    ex: Exchange,
    timeout: Duration,
    cancel: &dyn Fn() -> bool,
) -> Result<Reply, Failure> {
    if cancel() {
        return Err(Failure::Cancelled);
    }
    let deadline = Instant::now() + timeout;
    // Capacity 1: the worker's single send never blocks, even if abandoned.
    let (tx, rx) = mpsc::sync_channel(1);
    spawn_with_signals_blocked("rag-embed-http", move || {
        let _ = tx.send(perform(ex));
    })
    .map_err(|e| Failure::Connect(format!("cannot start HTTP worker thread: {e}")))?;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Failure::Timeout);
        }
        match rx.recv_timeout(POLL.min(deadline - now)) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if cancel() {
                    return Err(Failure::Cancelled);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure::Protocol("HTTP worker thread failed".into()))
            }
        }
    }
}

fn perform(ex: Exchange) -> Result<Reply, Failure> {
    let mut req = ex
        .agent
        .request(ex.method, &ex.url)
        .set("Accept", "application/json");
    if let Some(auth) = &ex.authorization {
        req = req.set("Authorization", auth);
    }
    let result = match &ex.body {
        Some(body) => req.set("Content-Type", "application/json").send_bytes(body),
        None => req.call(),
    };
    match result {
        Ok(resp) => {
            let status = resp.status();
            let body = read_body(resp, MAX_BODY)?;
            Ok(Reply { status, body })
        }
        Err(ureq::Error::Status(status, resp)) => {
            // The body is only for the error message: a failed read is fine.
            let body = read_body(resp, MAX_ERROR_BODY).unwrap_or_default();
            Ok(Reply { status, body })
        }
        Err(ureq::Error::Transport(t)) => Err(classify(&t)),
    }
}

fn read_body(resp: ureq::Response, cap: u64) -> Result<Vec<u8>, Failure> {
    let hint = resp
        .header("Content-Length")
        .and_then(|l| l.parse::<u64>().ok())
        .unwrap_or(0)
        .min(cap) as usize;
    let mut body = Vec::with_capacity(hint);
    resp.into_reader()
        .take(cap + 1)
        .read_to_end(&mut body)
        .map_err(|e| io_failure(&e, "reading response"))?;
    if body.len() as u64 > cap {
        return Err(Failure::Protocol(format!(
            "response larger than {cap} bytes"
        )));
    }
    Ok(body)
}

fn io_failure(e: &io::Error, during: &str) -> Failure {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::Timeout,
        _ => Failure::Connect(format!("connection lost while {during}: {e}")),
    }
}

fn classify(t: &ureq::Transport) -> Failure {
    use ureq::ErrorKind as K;
    let io_kind = std::error::Error::source(t)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .map(io::Error::kind);
    if matches!(
        io_kind,
        Some(io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
    ) {
        return Failure::Timeout;
    }
    // Built from parts: ureq's Display starts with the full URL.
    let mut detail = t.kind().to_string();
    if let Some(m) = t.message() {
        detail.push_str(": ");
        detail.push_str(m);
    }
    if let Some(s) = std::error::Error::source(t) {
        detail.push_str(&format!(": {s}"));
    }
    match t.kind() {
        K::InvalidUrl | K::UnknownScheme | K::InsecureRequestHttpsOnly | K::InvalidProxyUrl => {
            Failure::Config(detail)
        }
        K::Dns | K::ConnectionFailed | K::Io | K::ProxyConnect | K::ProxyUnauthorized => {
            Failure::Connect(detail)
        }
        _ => Failure::Protocol(detail),
    }
}

/// Starts the HTTP thread with every signal blocked, so signals aimed at the
/// host process (PostgreSQL's SIGINT for query cancel, SIGTERM, SIGUSR1...)
/// are always handled by the thread that owns the process state. The mask is
/// set before the spawn so the new thread never runs unmasked.
pub(crate) fn spawn_with_signals_blocked<F>(
    name: &str,
    f: F,
) -> std::io::Result<thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    #[cfg(unix)]
    {
        // SAFETY: sigset_t is plain data; pthread_sigmask only changes the
        // calling thread's mask, which is restored right after the spawn.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
            let handle = thread::Builder::new().name(name.into()).spawn(f);
            libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
            handle
        }
    }
    #[cfg(not(unix))]
    {
        thread::Builder::new().name(name.into()).spawn(f)
    }
}
