//! Deterministic fixture embedding server for tests and benchmarks.
//!
//! Speaks Ollama's wire format (`POST /api/embed`, `POST /api/embeddings`,
//! `GET /api/tags`) and OpenAI's (`POST /v1/embeddings`, `GET /v1/models`)
//! on 127.0.0.1, with injectable faults. Vectors derive from sha256 of the
//! text, so [`expected_vector`] tells a test exactly what a client should
//! store after Matryoshka truncation and L2 normalisation.
//!
//! Control endpoints for other processes: `POST /fixture/fault` with
//! `{"fault": "http500", "count": 2, "delay_ms": 500, "poison": "x"}` (only
//! `fault` is required), `GET /fixture/stats` → `{"requests":n,"inputs":m,
//! "fault":"..."}`, `POST /fixture/reset` (zeroes counts, fault back to none).

mod http;
mod vectors;

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use http::{ReadError, Request, Response};
pub use vectors::{expected_vector, raw_vector};

/// Length of the vectors returned under [`Fault::WrongDimension`].
pub const WRONG_DIMENSION: usize = 3;

/// Injected misbehaviour; applies to embedding requests only (tags, models
/// and control endpoints always answer).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// HTTP 500 with `{"error": ...}`.
    Http500,
    /// Reads the request and never answers until the fault is changed
    /// (then answers normally) or the server is stopped (then closes).
    Hang,
    /// Answers normally after this delay.
    Delay(Duration),
    /// HTTP 200 with a body cut in half.
    MalformedJson,
    /// One vector fewer than inputs (one vector for zero inputs); the
    /// single-prompt `/api/embeddings` answers an empty vector.
    WrongCount,
    /// Vectors of [`WRONG_DIMENSION`] components.
    WrongDimension,
    /// The first component of the first vector is the bare token `NaN`, as
    /// Python's json module writes it.
    NaN,
    /// HTTP 500 for any request with an input containing this substring;
    /// other requests succeed.
    Poison(String),
    /// Like [`Fault::Hang`], but only for requests with an input containing
    /// this substring (a text the model chokes on); other requests succeed.
    HangOn(String),
    /// `/api/embed` answers 404 "404 page not found", like Ollama < 0.3.
    NoEmbedEndpoint,
}

impl Fault {
    /// Short name, as accepted by [`Fault::from_str`] (without arguments).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Http500 => "http500",
            Fault::Hang => "hang",
            Fault::Delay(_) => "delay",
            Fault::MalformedJson => "malformed_json",
            Fault::WrongCount => "wrong_count",
            Fault::WrongDimension => "wrong_dimension",
            Fault::NaN => "nan",
            Fault::Poison(_) => "poison",
            Fault::HangOn(_) => "hang_on",
            Fault::NoEmbedEndpoint => "no_embed_endpoint",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Delay(d) => write!(f, "delay:{}", d.as_millis()),
            Fault::Poison(s) => write!(f, "poison:{s}"),
            Fault::HangOn(s) => write!(f, "hang_on:{s}"),
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for Fault {
    type Err = String;

    /// Accepts `none`, `http500`/`500`, `hang`, `delay:MS`,
    /// `malformed_json`/`malformed`, `wrong_count`, `wrong_dimension`/`wrong_dim`,
    /// `nan`, `poison:SUBSTRING`, `hang_on:SUBSTRING`, `no_embed_endpoint`/`404`
    /// (case-insensitive names).
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (name, arg) = match spec.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (spec, None),
        };
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        let fault = match (name.as_str(), arg) {
            ("none" | "", None) => Fault::None,
            ("http500" | "500", None) => Fault::Http500,
            ("hang", None) => Fault::Hang,
            ("delay", Some(ms)) => Fault::Delay(Duration::from_millis(
                ms.trim()
                    .parse()
                    .map_err(|_| format!("bad delay milliseconds in fault {spec:?}"))?,
            )),
            ("malformed_json" | "malformed", None) => Fault::MalformedJson,
            ("wrong_count", None) => Fault::WrongCount,
            ("wrong_dimension" | "wrong_dim", None) => Fault::WrongDimension,
            ("nan", None) => Fault::NaN,
            ("poison", Some(s)) => Fault::Poison(s.to_string()),
            ("hang_on", Some(s)) => Fault::HangOn(s.to_string()),
            ("no_embed_endpoint" | "404", None) => Fault::NoEmbedEndpoint,
            _ => {
                return Err(format!(
                    "unknown fault {spec:?}; valid: none, http500, hang, delay:MS, malformed_json, \
                     wrong_count, wrong_dimension, nan, poison:SUBSTRING, hang_on:SUBSTRING, no_embed_endpoint"
                ))
            }
        };
        Ok(fault)
    }
}

/// Server settings; `FixtureConfig::default()` mimics qwen3-embedding:8b.
#[derive(Clone, Debug)]
pub struct FixtureConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Length of returned vectors (unless a request asks for `dimensions`).
    pub native_dim: usize,
    /// Dimension a client is expected to store; used by [`FixtureServer::expected`].
    pub dim: usize,
    /// Model name listed by `/api/tags` and `/v1/models`.
    pub model: String,
    /// If true, requests for any other model get Ollama's 404 "model not found".
    pub strict_model: bool,
    /// If set, `/v1/*` requires `Authorization: Bearer KEY` (401 otherwise).
    pub api_key: Option<String>,
    /// Fault in force at start.
    pub fault: Fault,
}

impl Default for FixtureConfig {
    fn default() -> Self {
        FixtureConfig {
            port: 0,
            native_dim: 4096,
            dim: 1024,
            model: "qwen3-embedding:8b".to_string(),
            strict_model: false,
            api_key: None,
            fault: Fault::None,
        }
    }
}

struct State {
    base: Fault,
    /// Fault for the next n embedding requests, then back to `base`.
    next: Option<(u64, Fault)>,
    /// Bumped on every fault change: releases hanging requests.
    fault_gen: u64,
    /// Bumped on every stop: connections of older epochs close.
    epoch: u64,
}

struct Shared {
    cfg: FixtureConfig,
    requests: AtomicU64,
    inputs: AtomicU64,
    state: Mutex<State>,
    changed: Condvar,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    last_inputs: Mutex<Vec<String>>,
    last_auth: Mutex<Option<String>>,
}

/// A poisoned lock only means a test thread panicked; keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn epoch(&self) -> u64 {
        lock(&self.state).epoch
    }

    fn set_fault(&self, fault: Fault, next_n: Option<u64>) {
        let mut st = lock(&self.state);
        match next_n {
            Some(n) if n > 0 => st.next = Some((n, fault)),
            Some(_) => st.next = None,
            None => {
                st.base = fault;
                st.next = None;
            }
        }
        st.fault_gen += 1;
        drop(st);
        self.changed.notify_all();
    }

    fn current_fault(&self) -> Fault {
        let st = lock(&self.state);
        match &st.next {
            Some((_, f)) => f.clone(),
            None => st.base.clone(),
        }
    }

    /// The fault for one embedding request (consumes one `next` use).
    fn take_fault(&self) -> (Fault, u64) {
        let mut st = lock(&self.state);
        let gen = st.fault_gen;
        if let Some((n, f)) = st.next.as_mut() {
            let f = f.clone();
            *n -= 1;
            if *n == 0 {
                st.next = None;
            }
            return (f, gen);
        }
        (st.base.clone(), gen)
    }

    /// Blocks until the fault changes (false) or the server stops (true).
    fn hang(&self, gen: u64, epoch: u64) -> bool {
        let mut st = lock(&self.state);
        loop {
            if st.epoch != epoch {
                return true;
            }
            if st.fault_gen != gen {
                return false;
            }
            st = self
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Sleeps `d` unless the server stops first (then true).
    fn sleep(&self, d: Duration, epoch: u64) -> bool {
        let deadline = Instant::now() + d;
        let mut st = lock(&self.state);
        loop {
            if st.epoch != epoch {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

struct Control {
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

/// A running fixture server; stops on drop.
pub struct FixtureServer {
    shared: Arc<Shared>,
    ctl: Mutex<Control>,
}

impl FixtureServer {
    /// Binds 127.0.0.1:`cfg.port` and serves each connection on its own thread.
    pub fn start(cfg: FixtureConfig) -> io::Result<FixtureServer> {
        let listener = TcpListener::bind(("127.0.0.1", cfg.port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            requests: AtomicU64::new(0),
            inputs: AtomicU64::new(0),
            state: Mutex::new(State {
                base: cfg.fault.clone(),
                next: None,
                fault_gen: 0,
                epoch: 0,
            }),
            changed: Condvar::new(),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            last_inputs: Mutex::new(Vec::new()),
            last_auth: Mutex::new(None),
            cfg,
        });
        let acceptor = spawn_acceptor(&shared, listener, 0)?;
        Ok(FixtureServer {
            shared,
            ctl: Mutex::new(Control {
                addr,
                acceptor: Some(acceptor),
            }),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", lock(&self.ctl).addr)
    }

    pub fn port(&self) -> u16 {
        lock(&self.ctl).addr.port()
    }

    pub fn config(&self) -> &FixtureConfig {
        &self.shared.cfg
    }

    /// Embedding requests received (any outcome), not tags/models/control.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Inputs answered with correct vectors (faulty answers don't count).
    pub fn inputs_embedded(&self) -> u64 {
        self.shared.inputs.load(Ordering::SeqCst)
    }

    pub fn reset_counts(&self) {
        self.shared.requests.store(0, Ordering::SeqCst);
        self.shared.inputs.store(0, Ordering::SeqCst);
    }

    /// Sets the fault for all later requests (and releases hanging ones).
    pub fn set_fault(&self, fault: Fault) {
        self.shared.set_fault(fault, None);
    }

    /// Applies `fault` to the next `n` embedding requests only.
    pub fn set_fault_for_next(&self, n: u64, fault: Fault) {
        self.shared.set_fault(fault, Some(n));
    }

    /// The fault the next embedding request will get.
    pub fn fault(&self) -> Fault {
        self.shared.current_fault()
    }

    /// Inputs of the last successfully parsed embedding request.
    pub fn last_inputs(&self) -> Vec<String> {
        lock(&self.shared.last_inputs).clone()
    }

    /// `Authorization` header of the last embedding or `/v1/models` request.
    pub fn last_authorization(&self) -> Option<String> {
        lock(&self.shared.last_auth).clone()
    }

    /// [`expected_vector`] with this server's `native_dim` and `dim`.
    pub fn expected(&self, text: &str) -> Vec<f32> {
        expected_vector(text, self.shared.cfg.native_dim, self.shared.cfg.dim)
    }

    pub fn is_running(&self) -> bool {
        lock(&self.ctl).acceptor.is_some()
    }

    /// Closes the listener and all open connections: new connections are
    /// refused, hanging requests are dropped unanswered. Idempotent.
    pub fn stop(&self) {
        let mut ctl = lock(&self.ctl);
        let Some(acceptor) = ctl.acceptor.take() else {
            return;
        };
        lock(&self.shared.state).epoch += 1;
        self.shared.changed.notify_all();
        // Wake the blocking accept() so the acceptor sees the new epoch and
        // drops the listener.
        let _ = TcpStream::connect_timeout(&ctl.addr, Duration::from_secs(1));
        let _ = acceptor.join();
        for (_, s) in lock(&self.shared.conns).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Stops if running, then listens again on the same port (or, if that
    /// port was taken meanwhile, on a new one: check [`FixtureServer::url`]).
    pub fn restart(&self) -> io::Result<()> {
        self.stop();
        let mut ctl = lock(&self.ctl);
        let listener = match TcpListener::bind(ctl.addr) {
            Ok(l) => l,
            Err(_) => TcpListener::bind(("127.0.0.1", 0))?,
        };
        ctl.addr = listener.local_addr()?;
        let epoch = self.shared.epoch();
        ctl.acceptor = Some(spawn_acceptor(&self.shared, listener, epoch)?);
        Ok(())
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_acceptor(
    shared: &Arc<Shared>,
    listener: TcpListener,
    epoch: u64,
) -> io::Result<JoinHandle<()>> {
    let shared = Arc::clone(shared);
    thread::Builder::new()
        .name("fixture-accept".into())
        .spawn(move || {
            for conn in listener.incoming() {
                if shared.epoch() != epoch {
                    break;
                }
                match conn {
                    Ok(stream) => {
                        let sh = Arc::clone(&shared);
                        let spawned = thread::Builder::new()
                            .name("fixture-conn".into())
                            .spawn(move || serve_connection(&sh, stream, epoch));
                        if spawned.is_err() {
                            thread::sleep(Duration::from_millis(10));
                        }
                    }
                    // e.g. out of file descriptors: don't spin.
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        })
}

fn serve_connection(shared: &Shared, stream: TcpStream, epoch: u64) {
    let _ = stream.set_nodelay(true);
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let (Ok(registered), Ok(read_half)) = (stream.try_clone(), stream.try_clone()) else {
        return;
    };
    lock(&shared.conns).insert(id, registered);
    // stop() bumps the epoch before closing registered connections, so a
    // connection registered after that sweep sees the new epoch here.
    if shared.epoch() == epoch {
        let mut reader = BufReader::with_capacity(64 * 1024, read_half);
        let mut writer = stream;
        loop {
            let req = match http::read_request(&mut reader, &mut writer) {
                Ok(r) => r,
                Err(ReadError::Bad(msg)) => {
                    let _ = http::write_response(&mut writer, &Response::text(400, msg), false);
                    break;
                }
                Err(ReadError::TooLarge) => {
                    let resp = Response::text(413, "request too large");
                    let _ = http::write_response(&mut writer, &resp, false);
                    break;
                }
                Err(ReadError::Closed | ReadError::Io) => break,
            };
            // None: the server stopped while the request was held.
            let Some(resp) = route(shared, &req, epoch) else {
                break;
            };
            if http::write_response(&mut writer, &resp, req.keep_alive).is_err() || !req.keep_alive
            {
                break;
            }
        }
    }
    lock(&shared.conns).remove(&id);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    /// Ollama `/api/embed` (batch).
    Embed,
    /// Ollama `/api/embeddings` (single prompt, legacy).
    Legacy,
    /// OpenAI `/v1/embeddings`.
    OpenAi,
}

const NOT_FOUND: &str = "404 page not found";

fn route(shared: &Shared, req: &Request, epoch: u64) -> Option<Response> {
    let resp = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => Response::text(200, "Ollama is running"),
        ("GET", "/api/tags") => tags(&shared.cfg),
        ("GET", "/api/version") => Response::json(200, br#"{"version":"0.12.6"}"#.to_vec()),
        ("GET", "/v1/models") => {
            record_auth(shared, req);
            if let Some(resp) = check_key(shared, req) {
                resp
            } else {
                models(&shared.cfg)
            }
        }
        ("POST", "/api/embed") => return embed(shared, req, Api::Embed, epoch),
        ("POST", "/api/embeddings") => return embed(shared, req, Api::Legacy, epoch),
        ("POST", "/v1/embeddings") => return embed(shared, req, Api::OpenAi, epoch),
        ("POST", "/fixture/fault") => control_fault(shared, &req.body),
        ("GET", "/fixture/stats") => stats(shared),
        ("POST", "/fixture/reset") => {
            shared.requests.store(0, Ordering::SeqCst);
            shared.inputs.store(0, Ordering::SeqCst);
            shared.set_fault(Fault::None, None);
            Response::json(200, br#"{"ok":true}"#.to_vec())
        }
        (
            _,
            "/api/tags" | "/api/embed" | "/api/embeddings" | "/v1/embeddings" | "/v1/models"
            | "/fixture/fault" | "/fixture/stats" | "/fixture/reset",
        ) => Response::text(405, "405 method not allowed"),
        _ => Response::text(404, NOT_FOUND),
    };
    Some(resp)
}

fn tags(cfg: &FixtureConfig) -> Response {
    let digest: String = Sha256::digest(cfg.model.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let body = json!({
        "models": [{
            "name": cfg.model,
            "model": cfg.model,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 4_683_087_332u64,
            "digest": digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "fixture",
                "families": ["fixture"],
                "parameter_size": "8B",
                "quantization_level": "Q4_K_M"
            }
        }]
    });
    Response::json(200, body.to_string().into_bytes())
}

fn models(cfg: &FixtureConfig) -> Response {
    let body = json!({
        "object": "list",
        "data": [{ "id": cfg.model, "object": "model", "created": 0, "owned_by": "library" }]
    });
    Response::json(200, body.to_string().into_bytes())
}

fn stats(shared: &Shared) -> Response {
    let body = json!({
        "requests": shared.requests.load(Ordering::SeqCst),
        "inputs": shared.inputs.load(Ordering::SeqCst),
        "fault": shared.current_fault().to_string(),
    });
    Response::json(200, body.to_string().into_bytes())
}

fn control_fault(shared: &Shared, body: &[u8]) -> Response {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Response::ollama_error(400, &format!("invalid JSON: {e}")),
    };
    let Some(spec) = v.get("fault").and_then(Value::as_str) else {
        return Response::ollama_error(400, "\"fault\" (string) is required");
    };
    let parsed = match spec.to_ascii_lowercase().as_str() {
        // Arguments may come as separate fields.
        "delay" => v
            .get("delay_ms")
            .and_then(Value::as_u64)
            .map(|ms| Fault::Delay(Duration::from_millis(ms)))
            .ok_or_else(|| "fault \"delay\" needs \"delay_ms\"".to_string()),
        "poison" => v
            .get("poison")
            .and_then(Value::as_str)
            .map(|s| Fault::Poison(s.to_string()))
            .ok_or_else(|| "fault \"poison\" needs \"poison\" (string)".to_string()),
        _ => spec.parse::<Fault>(),
    };
    let fault = match parsed {
        Ok(f) => f,
        Err(e) => return Response::ollama_error(400, &e),
    };
    let count = v.get("count").and_then(Value::as_u64);
    let name = fault.to_string();
    shared.set_fault(fault, count);
    Response::json(
        200,
        json!({ "ok": true, "fault": name })
            .to_string()
            .into_bytes(),
    )
}

fn record_auth(shared: &Shared, req: &Request) {
    *lock(&shared.last_auth) = req.header("authorization").map(str::to_string);
}

/// 401 unless the configured key is presented (OpenAI endpoints only).
fn check_key(shared: &Shared, req: &Request) -> Option<Response> {
    let key = shared.cfg.api_key.as_ref()?;
    let ok = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|k| k.trim() == key);
    if ok {
        None
    } else {
        Some(Response::openai_error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
        ))
    }
}

fn api_error(api: Api, status: u16, message: &str) -> Response {
    match api {
        Api::OpenAi => {
            let kind = if status >= 500 {
                "server_error"
            } else {
                "invalid_request_error"
            };
            Response::openai_error(status, message, kind)
        }
        _ => Response::ollama_error(status, message),
    }
}

struct EmbedRequest {
    model: String,
    inputs: Vec<String>,
    dimensions: Option<usize>,
}

fn parse_embed_request(body: &[u8], api: Api, native_dim: usize) -> Result<EmbedRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("request body must be a JSON object")?;
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err("model is required".into()),
    };
    let inputs = match api {
        Api::Legacy => match obj.get("prompt") {
            Some(Value::String(p)) => vec![p.clone()],
            None | Some(Value::Null) => vec![String::new()],
            Some(_) => return Err("prompt must be a string".into()),
        },
        _ => match obj.get("input") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("invalid input type: expected string or array of strings")?,
            // Ollama answers an empty list for a missing input.
            None | Some(Value::Null) if api == Api::Embed => Vec::new(),
            _ => return Err("'input' is a required property".into()),
        },
    };
    let dimensions = match obj.get("dimensions") {
        None | Some(Value::Null) => None,
        Some(d) => match d.as_u64() {
            Some(d) if d > 0 && d as usize <= native_dim => Some(d as usize),
            _ => return Err(format!("dimensions must be between 1 and {native_dim}")),
        },
    };
    Ok(EmbedRequest {
        model,
        inputs,
        dimensions,
    })
}

fn embed(shared: &Shared, req: &Request, api: Api, epoch: u64) -> Option<Response> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    record_auth(shared, req);
    if api == Api::OpenAi {
        if let Some(resp) = check_key(shared, req) {
            return Some(resp);
        }
    }
    let (fault, gen) = shared.take_fault();
    if fault == Fault::NoEmbedEndpoint && api == Api::Embed {
        return Some(Response::text(404, NOT_FOUND));
    }
    let cfg = &shared.cfg;
    let parsed = match parse_embed_request(&req.body, api, cfg.native_dim) {
        Ok(p) => p,
        Err(e) => return Some(api_error(api, 400, &e)),
    };
    // Held requests are dropped unanswered if the server stops meanwhile.
    let stopped = match &fault {
        Fault::Hang => shared.hang(gen, epoch),
        Fault::HangOn(p) if parsed.inputs.iter().any(|t| t.contains(p.as_str())) => shared.hang(gen, epoch),
        Fault::Delay(d) => shared.sleep(*d, epoch),
        _ => false,
    };
    if stopped {
        return None;
    }
    match &fault {
        Fault::Http500 => return Some(api_error(api, 500, "fixture: injected server error")),
        Fault::Poison(p) if parsed.inputs.iter().any(|t| t.contains(p.as_str())) => {
            return Some(api_error(api, 500, "fixture: poisoned input"));
        }
        _ => {}
    }
    if cfg.strict_model && parsed.model != cfg.model {
        let msg = format!("model \"{}\" not found, try pulling it first", parsed.model);
        return Some(api_error(api, 404, &msg));
    }
    let mut body = render(api, &parsed, &fault, cfg.native_dim);
    match fault {
        Fault::MalformedJson => body.truncate(body.len() / 2),
        Fault::WrongCount | Fault::WrongDimension | Fault::NaN => {}
        _ => {
            shared
                .inputs
                .fetch_add(parsed.inputs.len() as u64, Ordering::SeqCst);
        }
    }
    *lock(&shared.last_inputs) = parsed.inputs;
    Some(Response::json(200, body))
}

fn render(api: Api, req: &EmbedRequest, fault: &Fault, native_dim: usize) -> Vec<u8> {
    let texts: Vec<&str> = match fault {
        Fault::WrongCount if req.inputs.is_empty() => vec![""],
        Fault::WrongCount => req.inputs[1..].iter().map(String::as_str).collect(),
        _ => req.inputs.iter().map(String::as_str).collect(),
    };
    let per_vector = req.dimensions.unwrap_or(native_dim) * 8 + 64;
    let mut out = Vec::with_capacity(texts.len() * per_vector + 256);
    let push_vec = |out: &mut Vec<u8>, i: usize, text: &str| {
        let start = out.len();
        match (fault, req.dimensions) {
            (Fault::WrongDimension, _) => vectors::push_raw_json(out, text, WRONG_DIMENSION),
            (_, Some(d)) => vectors::push_expected_json(out, text, native_dim, d),
            (_, None) => vectors::push_raw_json(out, text, native_dim),
        }
        if *fault == Fault::NaN && i == 0 {
            // Replace the first number with a bare NaN token.
            let first_end = out[start + 1..]
                .iter()
                .position(|&b| b == b',' || b == b']')
                .map_or(out.len(), |p| start + 1 + p);
            out.splice(start + 1..first_end, b"NaN".iter().copied());
        }
    };
    let model = Value::String(req.model.clone()).to_string();
    let tokens: usize = req
        .inputs
        .iter()
        .map(|t| t.chars().count().div_ceil(4))
        .sum();
    match api {
        Api::Legacy => {
            out.extend_from_slice(b"{\"embedding\":");
            match (fault, texts.first()) {
                // Old Ollama answers an empty vector for an empty prompt.
                (Fault::WrongCount, _) | (_, Some(&"")) | (_, None) => out.extend_from_slice(b"[]"),
                (_, Some(t)) => push_vec(&mut out, 0, t),
            }
            out.push(b'}');
        }
        Api::Embed => {
            out.extend_from_slice(b"{\"model\":");
            out.extend_from_slice(model.as_bytes());
            out.extend_from_slice(b",\"embeddings\":[");
            for (i, t) in texts.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_vec(&mut out, i, t);
            }
            out.extend_from_slice(
                format!("],\"total_duration\":1000,\"load_duration\":0,\"prompt_eval_count\":{tokens}}}")
                    .as_bytes(),
            );
        }
        Api::OpenAi => {
            out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
            for (i, t) in texts.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(
                    format!("{{\"object\":\"embedding\",\"index\":{i},\"embedding\":").as_bytes(),
                );
                push_vec(&mut out, i, t);
                out.push(b'}');
            }
            out.extend_from_slice(b"],\"model\":");
            out.extend_from_slice(model.as_bytes());
            out.extend_from_slice(
                format!(",\"usage\":{{\"prompt_tokens\":{tokens},\"total_tokens\":{tokens}}}}}")
                    .as_bytes(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;
