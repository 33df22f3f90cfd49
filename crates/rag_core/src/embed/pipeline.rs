//! A background embedder: batches are embedded (with failure isolation) on
//! a thread of their own while the caller does something else, such as
//! writing the previous batch to the database.
//!
//! The thread runs only this crate's code (HTTP, JSON, validation), never
//! the host's, and starts with every signal blocked, so a host process such
//! as a PostgreSQL background worker keeps handling its signals itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use super::http::spawn_with_signals_blocked;
use super::{EmbedClient, EmbedConfig, EmbedError};
use crate::backfill::{embed_isolating, failure_scope, Isolation, PROBE_TEXT};

/// How often [`Pending::wait`] calls back while it waits.
const WAIT_TICK: Duration = Duration::from_millis(100);

struct Job {
    cfg: EmbedConfig,
    texts: Vec<String>,
    reply: mpsc::SyncSender<Isolation<EmbedError>>,
}

/// Embeds submitted batches one after the other on its own thread.
pub struct EmbedPipeline {
    jobs: Option<mpsc::Sender<Job>>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A submitted batch.
pub struct Pending {
    rx: mpsc::Receiver<Isolation<EmbedError>>,
    n: usize,
    model: String,
    url: String,
}

impl EmbedPipeline {
    pub fn start() -> std::io::Result<EmbedPipeline> {
        let (tx, rx) = mpsc::channel::<Job>();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancel);
        let thread = spawn_with_signals_blocked("rag-embed-pipeline", move || serve(rx, flag))?;
        Ok(EmbedPipeline { jobs: Some(tx), cancel, thread: Some(thread) })
    }

    /// Queues `texts` for embedding with `cfg`.
    pub fn submit(&self, cfg: EmbedConfig, texts: Vec<String>) -> Pending {
        let (reply, rx) = mpsc::sync_channel(1);
        let pending = Pending { rx, n: texts.len(), model: cfg.model.clone(), url: cfg.url.clone() };
        if let Some(jobs) = &self.jobs {
            // A send error means the thread is gone; `wait` reports it.
            let _ = jobs.send(Job { cfg, texts, reply });
        }
        pending
    }

    /// Makes the running batch and every queued one end as cancelled.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

impl Drop for EmbedPipeline {
    fn drop(&mut self) {
        self.cancel();
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Pending {
    /// Waits for the result, calling `tick` about every 100 ms meanwhile
    /// (e.g. to cancel the pipeline on a shutdown request).
    pub fn wait(self, tick: &mut dyn FnMut()) -> Isolation<EmbedError> {
        loop {
            match self.rx.recv_timeout(WAIT_TICK) {
                Ok(iso) => return iso,
                Err(mpsc::RecvTimeoutError::Timeout) => tick(),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let err = EmbedError::Protocol {
                        model: self.model.clone(),
                        url: self.url.clone(),
                        detail: "the embedding thread ended unexpectedly".into(),
                    };
                    return unresolved(self.n, err, false);
                }
            }
        }
    }
}

fn unresolved(n: usize, err: EmbedError, cancelled: bool) -> Isolation<EmbedError> {
    Isolation {
        vectors: (0..n).map(|_| None).collect(),
        failures: Vec::new(),
        deferred: Some(err),
        cancelled,
        requests: 0,
    }
}

fn serve(jobs: mpsc::Receiver<Job>, cancel: Arc<AtomicBool>) {
    // One client per configuration, kept across batches (connections, the
    // legacy-endpoint discovery).
    let mut client: Option<EmbedClient> = None;
    for job in jobs {
        let stop = || cancel.load(Ordering::SeqCst);
        if stop() {
            let _ = job.reply.send(unresolved(job.texts.len(), EmbedError::Cancelled, true));
            continue;
        }
        if client.as_ref().is_none_or(|c| c.config() != &job.cfg) {
            client = Some(EmbedClient::new(job.cfg.clone()));
        }
        let Some(c) = client.as_mut() else { continue };
        let texts = &job.texts;
        let c = std::cell::RefCell::new(c);
        let mut send = |idx: &[usize]| {
            let subset: Vec<String> = idx.iter().map(|&i| texts[i].clone()).collect();
            c.borrow_mut().embed(&subset, &stop)
        };
        let mut probe = || c.borrow_mut().embed(&[PROBE_TEXT.to_string()], &stop).map(|_| ());
        let iso = embed_isolating(texts.len(), &mut send, &mut probe, &failure_scope);
        let _ = job.reply.send(iso);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixture_embedder::{Fault, FixtureConfig, FixtureServer};

    fn cfg(url: &str) -> EmbedConfig {
        EmbedConfig {
            url: url.to_string(),
            provider: crate::embed::Provider::Ollama,
            model: "m".into(),
            dimension: 8,
            timeout: Duration::from_secs(5),
            max_chars: 0,
            api_key: None,
        }
    }

    fn fixture() -> FixtureServer {
        FixtureServer::start(FixtureConfig { native_dim: 16, dim: 8, ..FixtureConfig::default() }).unwrap()
    }

    #[test]
    fn pipeline_embeds_batches_in_order_while_the_caller_works() {
        let srv = fixture();
        let p = EmbedPipeline::start().unwrap();
        let a = p.submit(cfg(&srv.url()), vec!["a".into(), "b".into()]);
        let b = p.submit(cfg(&srv.url()), vec!["c".into()]);
        let ra = a.wait(&mut || {});
        let rb = b.wait(&mut || {});
        assert_eq!(ra.vectors, vec![Some(srv.expected("a")), Some(srv.expected("b"))]);
        assert_eq!(rb.vectors, vec![Some(srv.expected("c"))]);
        assert_eq!(srv.requests(), 2);
    }

    #[test]
    fn pipeline_isolates_a_poison_input() {
        let srv = fixture();
        srv.set_fault(Fault::Poison("bad".into()));
        let p = EmbedPipeline::start().unwrap();
        let texts: Vec<String> = ["x", "bad one", "y", "z"].iter().map(|s| s.to_string()).collect();
        let r = p.submit(cfg(&srv.url()), texts).wait(&mut || {});
        assert_eq!(r.embedded(), 3);
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].0, 1);
    }

    #[test]
    fn pipeline_cancel_ends_running_and_queued_batches() {
        let srv = fixture();
        srv.set_fault(Fault::Hang);
        let p = EmbedPipeline::start().unwrap();
        let a = p.submit(cfg(&srv.url()), vec!["a".into()]);
        let b = p.submit(cfg(&srv.url()), vec!["b".into()]);
        let mut ticks = 0;
        let ra = a.wait(&mut || {
            ticks += 1;
            if ticks == 2 {
                p.cancel();
            }
        });
        assert!(ra.cancelled);
        assert_eq!(ra.deferred, Some(EmbedError::Cancelled));
        let rb = b.wait(&mut || {});
        assert!(rb.cancelled);
        assert_eq!(srv.requests(), 1, "the queued batch was never sent");
        srv.set_fault(Fault::None);
    }
}
