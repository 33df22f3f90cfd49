//! Embedding HTTP client for Ollama and OpenAI-compatible servers.
//!
//! Every response is validated (status, JSON shape, count, dimension,
//! finiteness) before vectors are returned truncated to the configured
//! dimension and L2-normalised. Requests run on a worker thread so that a
//! hanging server can be abandoned on cancel or timeout (see [`http`]).

mod http;
mod input;
mod pipeline;
mod vector;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

pub use input::{apply_template, truncate_chars};
pub use pipeline::{EmbedPipeline, Pending};
pub use vector::{fit_dimension, VectorError, MAX_INDEXED_DIMENSION};

use http::{Exchange, Failure, Reply};

/// Wire format of the embedding server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// `POST /api/embed` (falls back to `/api/embeddings` on old servers).
    Ollama,
    /// `POST /v1/embeddings`.
    OpenAi,
}

impl Provider {
    /// Case-insensitive "ollama" or "openai".
    pub fn parse(s: &str) -> Result<Provider, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ollama" => Ok(Provider::Ollama),
            "openai" => Ok(Provider::OpenAi),
            _ => Err(format!(
                "unknown embedding provider \"{s}\"; valid values: ollama, openai"
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Provider::Ollama => "ollama",
            Provider::OpenAi => "openai",
        }
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::parse(s)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Client settings. `Debug` never shows the API key.
#[derive(Clone, PartialEq, Eq)]
pub struct EmbedConfig {
    /// Server base URL, e.g. `http://127.0.0.1:11434` (http only: no TLS).
    /// For OpenAI a trailing `/v1` is accepted.
    pub url: String,
    pub provider: Provider,
    pub model: String,
    /// Stored dimension; longer vectors are truncated (Matryoshka).
    pub dimension: usize,
    /// Limit for each HTTP request, including reading the body.
    pub timeout: Duration,
    /// Inputs are cut to this many characters; 0 means no limit.
    pub max_chars: usize,
    /// Sent as `Authorization: Bearer KEY` (both providers, if set).
    pub api_key: Option<String>,
}

impl EmbedConfig {
    /// What is sent for `input`: cut to `max_chars` characters (0: no cut).
    pub fn sent_text<'a>(&self, input: &'a str) -> &'a str {
        if self.max_chars == 0 {
            input
        } else {
            truncate_chars(input, self.max_chars)
        }
    }

    /// Key of the query-embedding cache for `input` sent by `role`: a hash of
    /// everything that determines the vector the server returns — provider,
    /// server URL, model, dimension and the exact text sent — plus the role,
    /// so that a cached vector is only ever served to the role that caused
    /// it, for exactly the request it would have made.
    pub fn query_cache_key(&self, role: u32, input: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"rag_search/query-cache/1\0");
        h.update(role.to_le_bytes());
        for field in [self.provider.as_str(), self.url.trim(), self.model.as_str()] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field.as_bytes());
        }
        h.update((self.dimension as u64).to_le_bytes());
        let sent = self.sent_text(input);
        h.update((sent.len() as u64).to_le_bytes());
        h.update(sent.as_bytes());
        h.finalize().into()
    }
}

impl fmt::Debug for EmbedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbedConfig")
            .field("url", &redact_url(&self.url))
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("dimension", &self.dimension)
            .field("timeout", &self.timeout)
            .field("max_chars", &self.max_chars)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Embedding failure. Messages name the model and the endpoint URL (with
/// any user:password removed) and never contain the API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmbedError {
    /// Non-2xx answer; `body` is a short snippet (the `error` message if JSON).
    Http {
        status: u16,
        model: String,
        url: String,
        body: String,
    },
    Timeout {
        model: String,
        url: String,
        after: Duration,
    },
    /// Connection refused or lost, DNS failure.
    Connect {
        model: String,
        url: String,
        detail: String,
    },
    /// Bad JSON, wrong shape, wrong vector count, empty or zero vector.
    Protocol {
        model: String,
        url: String,
        detail: String,
    },
    /// A vector shorter than the configured dimension.
    Dimension {
        model: String,
        url: String,
        expected: usize,
        got: usize,
    },
    /// NaN or infinity in a vector.
    NonFinite {
        model: String,
        url: String,
        detail: String,
    },
    /// Invalid settings (bad URL, https, zero dimension, ...).
    Config {
        model: String,
        url: String,
        detail: String,
    },
    /// `cancel()` returned true.
    Cancelled,
}

impl EmbedError {
    /// Worth retrying later: connect failures, timeouts, HTTP 5xx/429/408.
    pub fn is_transient(&self) -> bool {
        match self {
            EmbedError::Connect { .. } | EmbedError::Timeout { .. } => true,
            EmbedError::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }

    /// Short machine-readable kind: "http", "timeout", "connect", "protocol",
    /// "dimension", "non_finite", "config" or "cancelled".
    pub fn kind(&self) -> &'static str {
        match self {
            EmbedError::Http { .. } => "http",
            EmbedError::Timeout { .. } => "timeout",
            EmbedError::Connect { .. } => "connect",
            EmbedError::Protocol { .. } => "protocol",
            EmbedError::Dimension { .. } => "dimension",
            EmbedError::NonFinite { .. } => "non_finite",
            EmbedError::Config { .. } => "config",
            EmbedError::Cancelled => "cancelled",
        }
    }

    /// HTTP status for [`EmbedError::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            EmbedError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmbedError::Http {
                status,
                model,
                url,
                body,
            } => {
                write!(
                    f,
                    "embedding server returned HTTP {status} for model \"{model}\" at {url}"
                )?;
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            EmbedError::Timeout { model, url, after } => write!(
                f,
                "embedding request for model \"{model}\" at {url} timed out after {:.1}s",
                after.as_secs_f64()
            ),
            EmbedError::Connect { model, url, detail } => write!(
                f,
                "cannot reach embedding server at {url} (model \"{model}\"): {detail}"
            ),
            EmbedError::Protocol { model, url, detail } => write!(
                f,
                "invalid response from embedding server at {url} (model \"{model}\"): {detail}"
            ),
            EmbedError::Dimension {
                model,
                url,
                expected,
                got,
            } => write!(
                f,
                "model \"{model}\" at {url} returned {got}-dimensional vectors, but the \
                 configured dimension is {expected}"
            ),
            EmbedError::NonFinite { model, url, detail } => write!(
                f,
                "model \"{model}\" at {url} returned non-finite numbers (NaN or infinity): {detail}"
            ),
            EmbedError::Config { model, url, detail } => write!(
                f,
                "invalid embedding configuration (model \"{model}\", url {url}): {detail}"
            ),
            EmbedError::Cancelled => f.write_str("embedding request cancelled"),
        }
    }
}

impl std::error::Error for EmbedError {}

/// Blocking embedding client; create once per configuration and reuse (it
/// keeps connections alive and remembers the Ollama endpoint fallback).
pub struct EmbedClient {
    cfg: EmbedConfig,
    base: String,
    agent: ureq::Agent,
    /// Server lacks `/api/embed` (Ollama < 0.3): use `/api/embeddings`.
    legacy_ollama: bool,
}

#[derive(Serialize)]
struct OllamaEmbedRequest<'a> {
    model: &'a str,
    input: Vec<&'a str>,
    truncate: bool,
}

#[derive(Serialize)]
struct OllamaLegacyRequest<'a> {
    model: &'a str,
    prompt: &'a str,
}

#[derive(Serialize)]
struct OpenAiRequest<'a> {
    model: &'a str,
    input: Vec<&'a str>,
}

#[derive(Deserialize)]
struct OllamaEmbedResponse {
    embeddings: Vec<Vector>,
}

#[derive(Deserialize)]
struct OllamaLegacyResponse {
    embedding: Vector,
}

#[derive(Deserialize)]
struct OpenAiResponse {
    data: Vec<OpenAiItem>,
}

#[derive(Deserialize)]
struct OpenAiItem {
    index: Option<usize>,
    embedding: Vector,
}

/// A JSON array of numbers where `null` (how JavaScript writes NaN) becomes
/// NaN, so it is reported as non-finite rather than as a shape error.
struct Vector(Vec<f32>);

impl<'de> Deserialize<'de> for Vector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vector;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vector, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(x) = seq.next_element::<Option<f32>>()? {
                    v.push(x.unwrap_or(f32::NAN));
                }
                Ok(Vector(v))
            }
        }
        d.deserialize_seq(V)
    }
}

impl EmbedClient {
    pub fn new(cfg: EmbedConfig) -> EmbedClient {
        let mut base = cfg.url.trim().trim_end_matches('/').to_string();
        if cfg.provider == Provider::OpenAi {
            if let Some(b) = base.strip_suffix("/v1") {
                base = b.to_string();
            }
        }
        let agent = ureq::AgentBuilder::new()
            .timeout(cfg.timeout)
            .user_agent(concat!("rag_search/", env!("CARGO_PKG_VERSION")))
            .build();
        EmbedClient {
            cfg,
            base,
            agent,
            legacy_ollama: false,
        }
    }

    pub fn config(&self) -> &EmbedConfig {
        &self.cfg
    }

    /// True once an Ollama server answered 404 for `/api/embed`.
    pub fn uses_legacy_endpoint(&self) -> bool {
        self.legacy_ollama
    }

    /// Embeds `inputs` (each cut to `max_chars` characters) and returns one
    /// normalised vector of `dimension` components per input, in order.
    /// `cancel` is polled on this thread about every 100 ms while waiting.
    pub fn embed(
        &mut self,
        inputs: &[String],
        cancel: &dyn Fn() -> bool,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.check_config()?;
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<&str> = inputs.iter().map(|s| self.cfg.sent_text(s)).collect();
        let raw = match self.cfg.provider {
            Provider::OpenAi => self.embed_openai(&texts, cancel)?,
            Provider::Ollama if self.legacy_ollama => self.embed_ollama_legacy(&texts, cancel)?,
            Provider::Ollama => match self.embed_ollama(&texts, cancel)? {
                Some(v) => v,
                None => {
                    self.legacy_ollama = true;
                    self.embed_ollama_legacy(&texts, cancel)?
                }
            },
        };
        self.finish(raw.0, texts.len(), &raw.1)
    }

    /// Checks that the server answers: Ollama `GET /api/tags`, OpenAI
    /// `GET /v1/models`; any 2xx is healthy.
    pub fn health(&mut self) -> Result<(), EmbedError> {
        self.check_config()?;
        let url = match self.cfg.provider {
            Provider::Ollama => format!("{}/api/tags", self.base),
            Provider::OpenAi => format!("{}/v1/models", self.base),
        };
        let reply = self.exchange("GET", &url, None, &|| false)?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(self.http_error(&url, &reply))
        }
    }

    fn check_config(&self) -> Result<(), EmbedError> {
        let url = &self.base;
        let problem = if url.is_empty() {
            Some("the URL is empty".to_string())
        } else if url.to_ascii_lowercase().starts_with("https://") {
            Some("https is not supported (no TLS in this build); use http:// to a local server or TLS-terminating proxy".to_string())
        } else if !url.to_ascii_lowercase().starts_with("http://") {
            Some("the URL must start with http://".to_string())
        } else if self.cfg.model.trim().is_empty() {
            Some("the model name is empty".to_string())
        } else if self.cfg.dimension == 0 {
            Some("the dimension must be positive".to_string())
        } else if self.cfg.timeout.is_zero() {
            Some("the timeout must be positive".to_string())
        } else {
            None
        };
        match problem {
            Some(detail) => Err(EmbedError::Config {
                model: self.cfg.model.clone(),
                url: redact_url(url),
                detail,
            }),
            None => Ok(()),
        }
    }

    /// `None` means "no /api/embed here": the caller falls back.
    fn embed_ollama(
        &self,
        texts: &[&str],
        cancel: &dyn Fn() -> bool,
    ) -> Result<Option<(Vec<Vector>, String)>, EmbedError> {
        let url = format!("{}/api/embed", self.base);
        let body = self.to_json(
            &url,
            &OllamaEmbedRequest {
                model: &self.cfg.model,
                input: texts.to_vec(),
                truncate: true,
            },
        )?;
        let reply = self.exchange("POST", &url, Some(body), cancel)?;
        if reply.status == 404 && !is_json_error(&reply.body) {
            // Old Ollama: plain-text "404 page not found". A JSON error
            // (e.g. model not found) is a real answer from /api/embed.
            return Ok(None);
        }
        let resp: OllamaEmbedResponse = self.parse(&url, &reply)?;
        Ok(Some((resp.embeddings, url)))
    }

    fn embed_ollama_legacy(
        &self,
        texts: &[&str],
        cancel: &dyn Fn() -> bool,
    ) -> Result<(Vec<Vector>, String), EmbedError> {
        let url = format!("{}/api/embeddings", self.base);
        let mut out = Vec::with_capacity(texts.len());
        for text in texts {
            let body = self.to_json(
                &url,
                &OllamaLegacyRequest {
                    model: &self.cfg.model,
                    prompt: text,
                },
            )?;
            let reply = self.exchange("POST", &url, Some(body), cancel)?;
            let resp: OllamaLegacyResponse = self.parse(&url, &reply)?;
            out.push(resp.embedding);
        }
        Ok((out, url))
    }

    fn embed_openai(
        &self,
        texts: &[&str],
        cancel: &dyn Fn() -> bool,
    ) -> Result<(Vec<Vector>, String), EmbedError> {
        let url = format!("{}/v1/embeddings", self.base);
        let body = self.to_json(
            &url,
            &OpenAiRequest {
                model: &self.cfg.model,
                input: texts.to_vec(),
            },
        )?;
        let reply = self.exchange("POST", &url, Some(body), cancel)?;
        let resp: OpenAiResponse = self.parse(&url, &reply)?;
        let mut items = resp.data;
        let n = items.len();
        match items.iter().filter(|i| i.index.is_some()).count() {
            0 => {}
            k if k == n => {
                items.sort_by_key(|i| i.index);
                let in_order = items
                    .iter()
                    .enumerate()
                    .all(|(pos, i)| i.index == Some(pos));
                if !in_order {
                    return Err(self.protocol(&url, "data[].index is not a permutation of 0..n-1"));
                }
            }
            _ => return Err(self.protocol(&url, "data[].index is missing on some items")),
        }
        Ok((items.into_iter().map(|i| i.embedding).collect(), url))
    }

    /// Count, dimension and finiteness checks, then truncate + normalise.
    fn finish(
        &self,
        raw: Vec<Vector>,
        expected: usize,
        url: &str,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        if raw.len() != expected {
            return Err(self.protocol(
                url,
                &format!("expected {expected} vectors, got {}", raw.len()),
            ));
        }
        raw.into_iter()
            .enumerate()
            .map(|(i, Vector(v))| {
                if v.is_empty() {
                    return Err(self.protocol(url, &format!("empty vector for input {i}")));
                }
                fit_dimension(v, self.cfg.dimension).map_err(|e| match e {
                    VectorError::TooShort { expected, got } => EmbedError::Dimension {
                        model: self.cfg.model.clone(),
                        url: redact_url(url),
                        expected,
                        got,
                    },
                    VectorError::NonFinite { position } => EmbedError::NonFinite {
                        model: self.cfg.model.clone(),
                        url: redact_url(url),
                        detail: format!("input {i}, component {position}"),
                    },
                    VectorError::Zero => self.protocol(url, &format!("zero vector for input {i}")),
                })
            })
            .collect()
    }

    fn to_json<T: Serialize>(&self, url: &str, body: &T) -> Result<Vec<u8>, EmbedError> {
        serde_json::to_vec(body)
            .map_err(|e| self.protocol(url, &format!("cannot encode request: {e}")))
    }

    fn exchange(
        &self,
        method: &'static str,
        url: &str,
        body: Option<Vec<u8>>,
        cancel: &dyn Fn() -> bool,
    ) -> Result<Reply, EmbedError> {
        let ex = Exchange {
            agent: self.agent.clone(),
            method,
            url: url.to_string(),
            authorization: self
                .cfg
                .api_key
                .as_ref()
                .map(|k| format!("Bearer {}", k.trim())),
            body,
        };
        http::run(ex, self.cfg.timeout, cancel).map_err(|f| {
            let model = self.cfg.model.clone();
            let url = redact_url(url);
            match f {
                Failure::Cancelled => EmbedError::Cancelled,
                Failure::Timeout => EmbedError::Timeout {
                    model,
                    url,
                    after: self.cfg.timeout,
                },
                Failure::Connect(d) => EmbedError::Connect {
                    model,
                    url,
                    detail: self.scrub(&d),
                },
                Failure::Config(d) => EmbedError::Config {
                    model,
                    url,
                    detail: self.scrub(&d),
                },
                Failure::Protocol(d) => EmbedError::Protocol {
                    model,
                    url,
                    detail: self.scrub(&d),
                },
            }
        })
    }

    /// Status check, then JSON decoding into `T`.
    fn parse<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        reply: &Reply,
    ) -> Result<T, EmbedError> {
        if !(200..300).contains(&reply.status) {
            return Err(self.http_error(url, reply));
        }
        serde_json::from_slice(&reply.body).map_err(|e| {
            // Bare NaN/Infinity tokens (Python's json) are invalid JSON but
            // mean non-finite numbers, not a protocol mismatch.
            if e.is_syntax() && has_non_finite_token(&reply.body) {
                EmbedError::NonFinite {
                    model: self.cfg.model.clone(),
                    url: redact_url(url),
                    detail: format!("bare NaN/Infinity in JSON ({e})"),
                }
            } else {
                self.protocol(url, &format!("unexpected JSON: {e}"))
            }
        })
    }

    fn http_error(&self, url: &str, reply: &Reply) -> EmbedError {
        EmbedError::Http {
            status: reply.status,
            model: self.cfg.model.clone(),
            url: redact_url(url),
            body: self.scrub(&snippet(&reply.body)),
        }
    }

    fn protocol(&self, url: &str, detail: &str) -> EmbedError {
        EmbedError::Protocol {
            model: self.cfg.model.clone(),
            url: redact_url(url),
            detail: self.scrub(detail),
        }
    }

    /// Servers may echo request headers in errors: never pass the key on.
    fn scrub(&self, s: &str) -> String {
        match self.cfg.api_key.as_deref().map(str::trim) {
            Some(k) if !k.is_empty() => s.replace(k, "[redacted]"),
            _ => s.to_string(),
        }
    }
}

const SNIPPET_CHARS: usize = 200;

/// The `error` message of a JSON error body (Ollama or OpenAI style), else
/// the body itself; whitespace collapsed and cut to 200 characters.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| match v.get("error") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(e) => e
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string),
            None => None,
        })
        .unwrap_or_else(|| text.into_owned());
    let collapsed = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut = truncate_chars(&collapsed, SNIPPET_CHARS);
    if cut.len() < collapsed.len() {
        format!("{cut}…")
    } else {
        collapsed
    }
}

fn is_json_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.get("error").is_some())
        .unwrap_or(false)
}

fn has_non_finite_token(body: &[u8]) -> bool {
    body.windows(3).any(|w| w == b"NaN") || body.windows(8).any(|w| w == b"Infinity")
}

/// Drops `user:password@` from a URL.
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let after = &url[scheme_end + 3..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    match after[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end + 3], &after[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests;
