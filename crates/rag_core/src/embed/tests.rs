use super::*;
use fixture_embedder::{expected_vector, Fault, FixtureConfig, FixtureServer, WRONG_DIMENSION};
use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Instant;

const MODEL: &str = "test-model";
const KEY: &str = "sk-test-Zq7SECRETkey42";

fn never() -> bool {
    false
}

fn cfg(url: &str, provider: Provider) -> EmbedConfig {
    EmbedConfig {
        url: url.to_string(),
        provider,
        model: MODEL.to_string(),
        dimension: 16,
        timeout: Duration::from_secs(10),
        max_chars: 1000,
        api_key: None,
    }
}

fn texts(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Native 64 dims, stored 16.
fn small() -> FixtureServer {
    FixtureServer::start(FixtureConfig {
        native_dim: 64,
        dim: 16,
        ..FixtureConfig::default()
    })
    .unwrap()
}

fn client(srv: &FixtureServer, provider: Provider) -> EmbedClient {
    EmbedClient::new(cfg(&srv.url(), provider))
}

fn embed_err(c: &mut EmbedClient, inputs: &[&str]) -> EmbedError {
    c.embed(&texts(inputs), &never).unwrap_err()
}

/// Error text must name model and URL and never the key.
fn assert_message(e: &EmbedError, url: &str) {
    let m = e.to_string();
    assert!(m.contains(MODEL), "no model in: {m}");
    assert!(m.contains(url), "no url in: {m}");
    assert!(!m.contains(KEY) && !m.contains("SECRET"), "key leaked: {m}");
    assert!(!format!("{e:?}").contains("SECRET"), "key leaked in Debug");
}

/// A one-request-per-connection server answering with `respond(request)`.
fn canned<F>(n: usize, respond: F) -> (String, thread::JoinHandle<Vec<String>>)
where
    F: Fn(&str) -> (u16, String) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let h = thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..n {
            let (s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                head.push_str(&l);
                if l == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let req = head + &String::from_utf8(body).unwrap();
            let (status, body) = respond(&req);
            let mut s = s;
            write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            seen.push(req);
        }
        seen
    });
    (url, h)
}

#[test]
fn embed_ollama_batch() {
    let srv = small();
    let mut c = client(&srv, Provider::Ollama);
    let inputs = ["alpha", "beta", "감마"];
    let v = c.embed(&texts(&inputs), &never).unwrap();
    assert_eq!(v.len(), 3);
    for (t, got) in inputs.iter().zip(&v) {
        assert_eq!(got, &expected_vector(t, 64, 16), "vector for {t}");
    }
    assert_eq!((srv.requests(), srv.inputs_embedded()), (1, 3));
    assert!(!c.uses_legacy_endpoint());
    assert!(c.embed(&[], &never).unwrap().is_empty());
    assert_eq!(srv.requests(), 1, "no request for an empty batch");
}

#[test]
fn embed_matryoshka_4096_to_1024_normalised() {
    let srv = FixtureServer::start(FixtureConfig::default()).unwrap();
    let mut c = EmbedClient::new(EmbedConfig {
        dimension: 1024,
        ..cfg(&srv.url(), Provider::Ollama)
    });
    let v = c.embed(&texts(&["one", "two"]), &never).unwrap();
    for (t, got) in ["one", "two"].iter().zip(&v) {
        assert_eq!(got.len(), 1024);
        let norm: f64 = got
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(got, &srv.expected(t));
        // Same direction as the first 1024 raw components.
        let raw = fixture_embedder::raw_vector(t, 4096);
        let k = raw[0] / got[0];
        assert!(raw[..1024]
            .iter()
            .zip(got)
            .all(|(r, g)| (r / k - g).abs() < 1e-5));
    }
}

#[test]
fn embed_ollama_falls_back_to_legacy_endpoint_on_404() {
    let srv = small();
    srv.set_fault(Fault::NoEmbedEndpoint);
    let mut c = client(&srv, Provider::Ollama);
    let v = c.embed(&texts(&["a", "b"]), &never).unwrap();
    assert_eq!(
        v,
        vec![expected_vector("a", 64, 16), expected_vector("b", 64, 16)]
    );
    assert!(c.uses_legacy_endpoint());
    assert_eq!(srv.requests(), 3, "one 404, then one per input");
    srv.reset_counts();
    c.embed(&texts(&["c", "d"]), &never).unwrap();
    assert_eq!(
        srv.requests(),
        2,
        "later calls go straight to /api/embeddings"
    );
}

#[test]
fn embed_ollama_model_not_found_is_not_a_fallback() {
    let srv = FixtureServer::start(FixtureConfig {
        native_dim: 64,
        strict_model: true,
        ..FixtureConfig::default()
    })
    .unwrap();
    let mut c = client(&srv, Provider::Ollama);
    let e = embed_err(&mut c, &["a"]);
    assert_eq!(e.status(), Some(404));
    assert!(e.to_string().contains("not found"), "{e}");
    assert!(!c.uses_legacy_endpoint());
    assert!(!e.is_transient());
}

#[test]
fn embed_openai_with_bearer_key() {
    let srv = FixtureServer::start(FixtureConfig {
        native_dim: 64,
        api_key: Some(KEY.into()),
        ..FixtureConfig::default()
    })
    .unwrap();
    let mut c = EmbedClient::new(EmbedConfig {
        api_key: Some(KEY.into()),
        ..cfg(&srv.url(), Provider::OpenAi)
    });
    let v = c.embed(&texts(&["x", "y"]), &never).unwrap();
    assert_eq!(
        v,
        vec![expected_vector("x", 64, 16), expected_vector("y", 64, 16)]
    );
    assert_eq!(srv.last_authorization(), Some(format!("Bearer {KEY}")));
    c.health().unwrap();

    // Without the key: 401, and no key in the message.
    let mut anon = client(&srv, Provider::OpenAi);
    let e = embed_err(&mut anon, &["x"]);
    assert_eq!(e.status(), Some(401));
    assert!(!e.is_transient());
    assert_message(&e, &format!("{}/v1/embeddings", srv.url()));
    assert_eq!(anon.health().unwrap_err().status(), Some(401));
}

#[test]
fn embed_openai_base_url_may_end_in_v1() {
    let srv = small();
    let mut c = EmbedClient::new(cfg(&format!("{}/v1/", srv.url()), Provider::OpenAi));
    assert_eq!(
        c.embed(&texts(&["q"]), &never).unwrap()[0],
        expected_vector("q", 64, 16)
    );
}

#[test]
fn embed_openai_sorts_by_index() {
    let a = fixture_embedder::raw_vector("a", 16);
    let b = fixture_embedder::raw_vector("b", 16);
    let body = serde_json::json!({
        "data": [{"index": 1, "embedding": b}, {"index": 0, "embedding": a}]
    })
    .to_string();
    let (url, h) = canned(1, move |_| (200, body.clone()));
    let mut c = EmbedClient::new(cfg(&url, Provider::OpenAi));
    let v = c.embed(&texts(&["a", "b"]), &never).unwrap();
    assert_eq!(
        v,
        vec![expected_vector("a", 16, 16), expected_vector("b", 16, 16)]
    );
    let req = &h.join().unwrap()[0];
    assert!(req.starts_with("POST /v1/embeddings "));
    assert!(req.contains(r#""input":["a","b"]"#) && req.contains(r#""model":"test-model""#));
    assert!(!req.to_ascii_lowercase().contains("authorization"));
}

#[test]
fn embed_openai_bad_indices() {
    let body = r#"{"data":[{"index":0,"embedding":[1,2]},{"index":0,"embedding":[1,2]}]}"#;
    let (url, _h) = canned(1, move |_| (200, body.to_string()));
    let mut c = EmbedClient::new(EmbedConfig {
        dimension: 2,
        ..cfg(&url, Provider::OpenAi)
    });
    assert!(matches!(
        embed_err(&mut c, &["a", "b"]),
        EmbedError::Protocol { .. }
    ));
}

#[test]
fn embed_ollama_request_shape() {
    let (url, h) = canned(1, |_| (200, r#"{"embeddings":[[3,4]]}"#.to_string()));
    let mut c = EmbedClient::new(EmbedConfig {
        dimension: 2,
        api_key: Some(KEY.into()),
        ..cfg(&url, Provider::Ollama)
    });
    assert_eq!(
        c.embed(&texts(&["t"]), &never).unwrap(),
        vec![vec![0.6, 0.8]]
    );
    let req = &h.join().unwrap()[0];
    assert!(req.starts_with("POST /api/embed "), "{req}");
    assert!(req.contains(&format!("Authorization: Bearer {KEY}\r\n")), "{req}");
    let body: serde_json::Value =
        serde_json::from_str(req.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"model": MODEL, "input": ["t"], "truncate": true})
    );
}

#[test]
fn embed_truncates_long_korean_input_at_char_boundary() {
    let srv = small();
    let mut c = EmbedClient::new(EmbedConfig {
        max_chars: 5,
        ..cfg(&srv.url(), Provider::Ollama)
    });
    let long = "가나다라마바사아자차";
    let v = c.embed(&texts(&[long, "short"]), &never).unwrap();
    assert_eq!(srv.last_inputs(), texts(&["가나다라마", "short"]));
    assert_eq!(v[0], expected_vector("가나다라마", 64, 16));
    // Legacy endpoint truncates too.
    srv.set_fault(Fault::NoEmbedEndpoint);
    c.embed(&texts(&[long]), &never).unwrap();
    assert_eq!(srv.last_inputs(), texts(&["가나다라마"]));
    // 0 = no limit.
    let mut unlimited = EmbedClient::new(EmbedConfig {
        max_chars: 0,
        ..cfg(&srv.url(), Provider::OpenAi)
    });
    unlimited.embed(&texts(&[long]), &never).unwrap();
    assert_eq!(srv.last_inputs(), texts(&[long]));
}

#[test]
fn embed_fault_http500() {
    let srv = small();
    srv.set_fault(Fault::Http500);
    let mut c = client(&srv, Provider::Ollama);
    let e = embed_err(&mut c, &["a"]);
    assert_eq!(e.status(), Some(500));
    assert!(e.is_transient());
    assert_eq!(e.kind(), "http");
    assert!(
        e.to_string().contains("fixture: injected server error"),
        "{e}"
    );
    assert_message(&e, &format!("{}/api/embed", srv.url()));
}

#[test]
fn embed_fault_poison_hits_only_its_batch() {
    let srv = small();
    srv.set_fault(Fault::Poison("☠".into()));
    let mut c = client(&srv, Provider::Ollama);
    let e = embed_err(&mut c, &["ok", "bad ☠ input"]);
    assert!(e.to_string().contains("fixture: poisoned input"), "{e}");
    assert!(c.embed(&texts(&["ok"]), &never).is_ok());
}

#[test]
fn embed_fault_malformed_json() {
    let srv = small();
    srv.set_fault(Fault::MalformedJson);
    for p in [Provider::Ollama, Provider::OpenAi] {
        let e = embed_err(&mut client(&srv, p), &["a", "b"]);
        assert!(matches!(e, EmbedError::Protocol { .. }), "{e:?}");
        assert!(!e.is_transient());
        assert_message(&e, &srv.url());
    }
}

#[test]
fn embed_fault_wrong_count() {
    let srv = small();
    srv.set_fault(Fault::WrongCount);
    for p in [Provider::Ollama, Provider::OpenAi] {
        let e = embed_err(&mut client(&srv, p), &["a", "b", "c"]);
        assert!(matches!(e, EmbedError::Protocol { .. }), "{e:?}");
        assert!(e.to_string().contains("expected 3 vectors, got 2"), "{e}");
    }
    // Legacy endpoint: empty vector.
    srv.set_fault(Fault::NoEmbedEndpoint);
    let mut c = client(&srv, Provider::Ollama);
    c.embed(&texts(&["a"]), &never).unwrap();
    srv.set_fault(Fault::WrongCount);
    assert!(matches!(
        embed_err(&mut c, &["a"]),
        EmbedError::Protocol { .. }
    ));
}

#[test]
fn embed_fault_wrong_dimension() {
    let srv = small();
    srv.set_fault(Fault::WrongDimension);
    let e = embed_err(&mut client(&srv, Provider::Ollama), &["a"]);
    assert_eq!(
        e,
        EmbedError::Dimension {
            model: MODEL.into(),
            url: format!("{}/api/embed", srv.url()),
            expected: 16,
            got: WRONG_DIMENSION,
        }
    );
    assert!(!e.is_transient());
    assert_message(&e, &srv.url());
}

#[test]
fn embed_fault_nan() {
    let srv = small();
    srv.set_fault(Fault::NaN);
    for p in [Provider::Ollama, Provider::OpenAi] {
        let e = embed_err(&mut client(&srv, p), &["a"]);
        assert!(matches!(e, EmbedError::NonFinite { .. }), "{e:?}");
        assert_eq!(e.kind(), "non_finite");
        assert_message(&e, &srv.url());
    }
}

#[test]
fn embed_non_finite_overflow_null_and_zero_vectors() {
    // 1e39 overflows f32 to infinity; null is how JavaScript writes NaN.
    let cases = [
        (r#"{"embeddings":[[1,1e39]]}"#, "non_finite"),
        (r#"{"embeddings":[[1,null]]}"#, "non_finite"),
        (r#"{"embeddings":[[0,0,5]]}"#, "protocol"),
        (r#"{"embeddings":[[]]}"#, "protocol"),
        (r#"{"embeddings":[["1","2"]]}"#, "protocol"),
        (r#"{"vectors":[[1,2]]}"#, "protocol"),
    ];
    for (body, kind) in cases {
        let (url, _h) = canned(1, move |_| (200, body.to_string()));
        let mut c = EmbedClient::new(EmbedConfig {
            dimension: 2,
            ..cfg(&url, Provider::Ollama)
        });
        let e = embed_err(&mut c, &["a"]);
        assert_eq!(e.kind(), kind, "{body}: {e}");
    }
}

#[test]
fn embed_fault_hang_times_out() {
    let srv = small();
    srv.set_fault(Fault::Hang);
    let mut c = EmbedClient::new(EmbedConfig {
        timeout: Duration::from_millis(500),
        ..cfg(&srv.url(), Provider::Ollama)
    });
    let t = Instant::now();
    let e = embed_err(&mut c, &["a"]);
    let took = t.elapsed();
    assert!(matches!(e, EmbedError::Timeout { .. }), "{e:?}");
    assert!(e.is_transient());
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    assert_message(&e, &srv.url());
    assert!(e.to_string().contains("timed out after 0.5s"), "{e}");
    // Health does not hang: faults spare /api/tags.
    c.health().unwrap();
}

#[test]
fn embed_fault_hang_cancel_returns_quickly() {
    let srv = small();
    srv.set_fault(Fault::Hang);
    let mut c = EmbedClient::new(EmbedConfig {
        timeout: Duration::from_secs(60),
        ..cfg(&srv.url(), Provider::Ollama)
    });
    let caller = thread::current().id();
    let calls = Cell::new(0u32);
    let t = Instant::now();
    // Not Send/Sync (Cell): only the calling thread may run it.
    let cancel = || {
        assert_eq!(
            thread::current().id(),
            caller,
            "cancel ran on another thread"
        );
        calls.set(calls.get() + 1);
        t.elapsed() > Duration::from_millis(300)
    };
    let e = c.embed(&texts(&["a"]), &cancel).unwrap_err();
    let took = t.elapsed();
    assert_eq!(e, EmbedError::Cancelled);
    assert!(!e.is_transient());
    assert!(took < Duration::from_millis(1000), "{took:?}");
    assert!(calls.get() >= 3, "polled {} times", calls.get());
    // The server is still usable after the abandoned request.
    srv.set_fault(Fault::None);
    assert!(c.embed(&texts(&["b"]), &never).is_ok());
}

#[test]
fn embed_cancelled_before_start_sends_nothing() {
    let srv = small();
    let e = client(&srv, Provider::Ollama)
        .embed(&texts(&["a"]), &|| true)
        .unwrap_err();
    assert_eq!(e, EmbedError::Cancelled);
    assert_eq!(srv.requests(), 0);
}

#[test]
fn embed_delay_within_timeout_succeeds() {
    let srv = small();
    srv.set_fault(Fault::Delay(Duration::from_millis(250)));
    let mut c = client(&srv, Provider::OpenAi);
    assert!(c.embed(&texts(&["a"]), &never).is_ok());
}

#[test]
fn embed_connection_refused_then_server_back() {
    let srv = small();
    let mut c = client(&srv, Provider::Ollama);
    c.embed(&texts(&["a"]), &never).unwrap();
    srv.stop();
    let e = embed_err(&mut c, &["a"]);
    assert!(matches!(e, EmbedError::Connect { .. }), "{e:?}");
    assert!(e.is_transient());
    assert_message(&e, &format!("{}/api/embed", srv.url()));
    assert_eq!(c.health().unwrap_err().kind(), "connect");
    // A fresh client too.
    let e = embed_err(&mut client(&srv, Provider::OpenAi), &["a"]);
    assert_eq!(e.kind(), "connect");
    srv.restart().unwrap();
    assert_eq!(
        c.embed(&texts(&["a"]), &never).unwrap()[0],
        expected_vector("a", 64, 16)
    );
}

#[test]
fn embed_error_scrubs_echoed_key() {
    // A server that echoes request headers in its error body.
    let (url, _h) = canned(1, |req| {
        (502, serde_json::json!({ "error": req }).to_string())
    });
    let mut c = EmbedClient::new(EmbedConfig {
        api_key: Some(KEY.into()),
        ..cfg(&url, Provider::OpenAi)
    });
    let e = embed_err(&mut c, &["a"]);
    assert_eq!(e.status(), Some(502));
    assert!(e.is_transient());
    assert!(e.to_string().contains("Bearer [redacted]"), "{e}");
    assert_message(&e, &url);
}

#[test]
fn embed_http_error_snippet_is_short() {
    let long = "x ".repeat(5000);
    let (url, _h) = canned(1, move |_| (429, long.clone()));
    let e = embed_err(&mut EmbedClient::new(cfg(&url, Provider::Ollama)), &["a"]);
    assert!(e.is_transient());
    let EmbedError::Http { body, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(body.chars().count() <= 201 && body.ends_with('…'), "{body}");
}

#[test]
fn embed_health() {
    let srv = small();
    client(&srv, Provider::Ollama).health().unwrap();
    client(&srv, Provider::OpenAi).health().unwrap();
    assert_eq!(srv.requests(), 0);
    let (url, _h) = canned(1, |req| {
        assert!(req.starts_with("GET /api/tags "));
        (503, r#"{"error":"loading"}"#.to_string())
    });
    let e = EmbedClient::new(cfg(&url, Provider::Ollama))
        .health()
        .unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert!(e.to_string().contains("loading"));
}

#[test]
fn embed_config_errors() {
    let base = cfg("https://example.invalid", Provider::Ollama);
    let bad = [
        base.clone(),
        EmbedConfig {
            url: "localhost:11434".into(),
            ..base.clone()
        },
        EmbedConfig {
            url: "  ".into(),
            ..base.clone()
        },
        EmbedConfig {
            url: "http://127.0.0.1:1".into(),
            dimension: 0,
            ..base.clone()
        },
        EmbedConfig {
            url: "http://127.0.0.1:1".into(),
            model: " ".into(),
            ..base.clone()
        },
        EmbedConfig {
            url: "http://127.0.0.1:1".into(),
            timeout: Duration::ZERO,
            ..base.clone()
        },
    ];
    for c in bad {
        let e = EmbedClient::new(c.clone())
            .embed(&texts(&["a"]), &never)
            .unwrap_err();
        assert_eq!(e.kind(), "config", "{c:?}: {e}");
        assert!(!e.is_transient());
    }
    let e = EmbedClient::new(base).health().unwrap_err();
    assert!(e.to_string().contains("https is not supported"), "{e}");
}

#[test]
fn embed_provider_parse() {
    assert_eq!(Provider::parse("ollama"), Ok(Provider::Ollama));
    assert_eq!(Provider::parse(" OpenAI "), Ok(Provider::OpenAi));
    assert_eq!("OLLAMA".parse::<Provider>(), Ok(Provider::Ollama));
    let e = Provider::parse("cohere").unwrap_err();
    assert!(
        e.contains("ollama") && e.contains("openai") && e.contains("cohere"),
        "{e}"
    );
    assert_eq!(Provider::OpenAi.to_string(), "openai");
}

#[test]
fn embed_config_debug_hides_key_and_credentials() {
    let c = EmbedConfig {
        url: "http://user:pw@host:1/x".into(),
        api_key: Some(KEY.into()),
        ..cfg("", Provider::OpenAi)
    };
    let d = format!("{c:?}");
    assert!(!d.contains("SECRET") && !d.contains("pw"), "{d}");
    assert!(
        d.contains("[redacted]") && d.contains("http://host:1/x"),
        "{d}"
    );
}

#[test]
fn embed_redact_url_and_snippet() {
    assert_eq!(redact_url("http://a:b@h:1/p@q"), "http://h:1/p@q");
    assert_eq!(redact_url("http://h:1/p"), "http://h:1/p");
    assert_eq!(redact_url("weird"), "weird");
    assert_eq!(
        snippet(br#"{"error":"model not  found"}"#),
        "model not found"
    );
    assert_eq!(
        snippet(br#"{"error":{"message":"bad key","type":"x"}}"#),
        "bad key"
    );
    assert_eq!(snippet(b"404 page\nnot found"), "404 page not found");
    assert_eq!(snippet(&[0xff, b'a']), "\u{fffd}a");
}

#[test]
fn query_cache_key_covers_everything_that_decides_the_vector() {
    let base = cfg("http://127.0.0.1:1", Provider::Ollama);
    let key = base.query_cache_key(10, "query: what is a tsvector?");
    let variants = [
        EmbedConfig { provider: Provider::OpenAi, ..base.clone() },
        EmbedConfig { url: "http://127.0.0.1:2".to_string(), ..base.clone() },
        EmbedConfig { model: "other".to_string(), ..base.clone() },
        EmbedConfig { dimension: 17, ..base.clone() },
        EmbedConfig { max_chars: 20, ..base.clone() },
    ];
    for v in &variants {
        assert_ne!(v.query_cache_key(10, "query: what is a tsvector?"), key, "{v:?}");
    }
    assert_ne!(base.query_cache_key(11, "query: what is a tsvector?"), key, "another role");
    assert_ne!(base.query_cache_key(10, "query: what is a tsvector"), key, "another text");
    // What is not sent does not count: a timeout or an API key changes nothing,
    // and two inputs that are cut to the same text are the same request.
    let same = EmbedConfig { timeout: Duration::from_secs(1), api_key: Some(KEY.into()), ..base.clone() };
    assert_eq!(same.query_cache_key(10, "query: what is a tsvector?"), key);
    let short = EmbedConfig { max_chars: 5, ..base.clone() };
    assert_eq!(short.query_cache_key(10, "query: a"), short.query_cache_key(10, "query: b"));
    // Field boundaries are unambiguous.
    let a = EmbedConfig { model: "ab".into(), url: "http://x".into(), ..base.clone() };
    let b = EmbedConfig { model: "b".into(), url: "http://xa".into(), ..base.clone() };
    assert_ne!(a.query_cache_key(1, "t"), b.query_cache_key(1, "t"));
}

#[test]
fn the_text_sent_is_the_text_the_cache_key_hashes() {
    let server = small();
    let mut c = EmbedConfig { max_chars: 7, ..cfg(&server.url(), Provider::Ollama) };
    c.max_chars = 7;
    let mut client = EmbedClient::new(c.clone());
    client.embed(&texts(&["한국어 텍스트 검색 질문"]), &never).unwrap();
    assert_eq!(server.last_inputs(), vec![c.sent_text("한국어 텍스트 검색 질문").to_string()]);
    assert_eq!(c.sent_text("한국어 텍스트 검색 질문"), "한국어 텍스트");
}
