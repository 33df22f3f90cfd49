use super::*;
use std::io::{BufRead, Read, Write};
use std::sync::mpsc;

fn addr(srv: &FixtureServer) -> String {
    srv.url().trim_start_matches("http://").to_string()
}

/// Reads one response with a Content-Length body.
fn read_response(r: &mut impl BufRead) -> (u16, String) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn send(stream: &mut TcpStream, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).unwrap();
}

fn call_h(
    srv: &FixtureServer,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr(srv)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut h = headers.to_vec();
    h.push(("Connection", "close"));
    send(&mut s, method, path, body, &h);
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r);
    // Connection: close is honoured.
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).unwrap(), 0);
    resp
}

fn call(srv: &FixtureServer, method: &str, path: &str, body: &str) -> (u16, String) {
    call_h(srv, method, path, body, &[])
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    serde_json::from_value(v.clone()).unwrap()
}

fn small() -> FixtureServer {
    FixtureServer::start(FixtureConfig {
        native_dim: 64,
        dim: 16,
        ..FixtureConfig::default()
    })
    .unwrap()
}

#[test]
fn ollama_embed_batch_and_single_string() {
    let srv = small();
    let (st, body) = call(
        &srv,
        "POST",
        "/api/embed",
        r#"{"model":"m","input":["a","b","c"],"truncate":true}"#,
    );
    assert_eq!(st, 200);
    let v = json(&body);
    assert_eq!(v["model"], "m");
    let e = v["embeddings"].as_array().unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(floats(&e[1]), raw_vector("b", 64));
    let (st, body) = call(&srv, "POST", "/api/embed", r#"{"model":"m","input":"a"}"#);
    assert_eq!(st, 200);
    assert_eq!(floats(&json(&body)["embeddings"][0]), raw_vector("a", 64));
    assert_eq!(srv.requests(), 2);
    assert_eq!(srv.inputs_embedded(), 4);
    assert_eq!(srv.last_inputs(), vec!["a".to_string()]);
}

#[test]
fn default_config_is_4096_native() {
    let srv = FixtureServer::start(FixtureConfig::default()).unwrap();
    let (_, body) = call(
        &srv,
        "POST",
        "/api/embed",
        r#"{"model":"m","input":["안녕"]}"#,
    );
    let v = floats(&json(&body)["embeddings"][0]);
    assert_eq!(v.len(), 4096);
    assert_eq!(srv.expected("안녕"), expected_vector("안녕", 4096, 1024));
}

#[test]
fn legacy_embeddings_endpoint() {
    let srv = small();
    let (st, body) = call(
        &srv,
        "POST",
        "/api/embeddings",
        r#"{"model":"m","prompt":"hello"}"#,
    );
    assert_eq!(st, 200);
    assert_eq!(floats(&json(&body)["embedding"]), raw_vector("hello", 64));
    let (_, body) = call(
        &srv,
        "POST",
        "/api/embeddings",
        r#"{"model":"m","prompt":""}"#,
    );
    assert_eq!(json(&body)["embedding"], json("[]"));
}

#[test]
fn tags_and_models() {
    let srv = small();
    let (st, body) = call(&srv, "GET", "/api/tags", "");
    assert_eq!(st, 200);
    let v = json(&body);
    assert_eq!(v["models"][0]["name"], "qwen3-embedding:8b");
    assert_eq!(v["models"][0]["model"], "qwen3-embedding:8b");
    let (st, body) = call(&srv, "GET", "/v1/models", "");
    assert_eq!(st, 200);
    assert_eq!(json(&body)["data"][0]["id"], "qwen3-embedding:8b");
    assert_eq!(srv.requests(), 0, "tags/models are not embedding requests");
    assert_eq!(call(&srv, "GET", "/nope", "").0, 404);
    assert_eq!(call(&srv, "GET", "/api/embed", "").0, 405);
}

#[test]
fn openai_format_and_key() {
    let srv = FixtureServer::start(FixtureConfig {
        native_dim: 32,
        api_key: Some("sk-secret".into()),
        ..FixtureConfig::default()
    })
    .unwrap();
    let req = r#"{"model":"m","input":["x","y"]}"#;
    let (st, body) = call(&srv, "POST", "/v1/embeddings", req);
    assert_eq!(st, 401);
    assert!(json(&body)["error"]["message"].is_string());
    let auth = [("Authorization", "Bearer sk-secret")];
    let (st, body) = call_h(&srv, "POST", "/v1/embeddings", req, &auth);
    assert_eq!(st, 200);
    let v = json(&body);
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(floats(&v["data"][1]["embedding"]), raw_vector("y", 32));
    assert_eq!(
        srv.last_authorization().as_deref(),
        Some("Bearer sk-secret")
    );
    assert_eq!(call_h(&srv, "GET", "/v1/models", "", &auth).0, 200);
    assert_eq!(call(&srv, "GET", "/v1/models", "").0, 401);
}

#[test]
fn dimensions_field_is_honoured() {
    let srv = small();
    let (st, body) = call(
        &srv,
        "POST",
        "/v1/embeddings",
        r#"{"model":"m","input":"q","dimensions":8}"#,
    );
    assert_eq!(st, 200);
    assert_eq!(
        floats(&json(&body)["data"][0]["embedding"]),
        expected_vector("q", 64, 8)
    );
    assert_eq!(
        call(
            &srv,
            "POST",
            "/api/embed",
            r#"{"model":"m","input":"q","dimensions":65}"#
        )
        .0,
        400
    );
}

#[test]
fn bad_requests() {
    let srv = small();
    assert_eq!(call(&srv, "POST", "/api/embed", "{").0, 400);
    assert_eq!(call(&srv, "POST", "/api/embed", r#"{"input":"x"}"#).0, 400);
    assert_eq!(
        call(&srv, "POST", "/api/embed", r#"{"model":"m","input":[1]}"#).0,
        400
    );
    let (st, body) = call(&srv, "POST", "/api/embed", r#"{"model":"m"}"#);
    assert_eq!((st, json(&body)["embeddings"].clone()), (200, json("[]")));
}

#[test]
fn strict_model() {
    let srv = FixtureServer::start(FixtureConfig {
        native_dim: 8,
        strict_model: true,
        ..FixtureConfig::default()
    })
    .unwrap();
    let (st, body) = call(
        &srv,
        "POST",
        "/api/embed",
        r#"{"model":"other","input":"x"}"#,
    );
    assert_eq!(st, 404);
    assert!(json(&body)["error"].as_str().unwrap().contains("not found"));
    let ok = r#"{"model":"qwen3-embedding:8b","input":"x"}"#;
    assert_eq!(call(&srv, "POST", "/api/embed", ok).0, 200);
}

#[test]
fn keep_alive_serves_several_requests() {
    let srv = small();
    let mut s = TcpStream::connect(addr(&srv)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for t in ["a", "b", "c"] {
        send(
            &mut s,
            "POST",
            "/api/embed",
            &format!(r#"{{"model":"m","input":"{t}"}}"#),
            &[],
        );
        let (st, body) = read_response(&mut r);
        assert_eq!(st, 200);
        assert_eq!(floats(&json(&body)["embeddings"][0]), raw_vector(t, 64));
    }
    // Pipelined requests are answered in order.
    send(&mut s, "GET", "/api/version", "", &[]);
    send(&mut s, "GET", "/api/tags", "", &[]);
    assert!(read_response(&mut r).1.contains("version"));
    assert!(read_response(&mut r).1.contains("models"));
}

#[test]
fn fault_http500_and_counts() {
    let srv = small();
    srv.set_fault(Fault::Http500);
    let (st, body) = call(
        &srv,
        "POST",
        "/api/embed",
        r#"{"model":"m","input":["a","b"]}"#,
    );
    assert_eq!(st, 500);
    assert!(json(&body)["error"].is_string());
    let (st, body) = call(
        &srv,
        "POST",
        "/v1/embeddings",
        r#"{"model":"m","input":["a"]}"#,
    );
    assert_eq!(st, 500);
    assert!(json(&body)["error"]["message"].is_string());
    assert_eq!(
        call(&srv, "GET", "/api/tags", "").0,
        200,
        "faults spare tags"
    );
    assert_eq!((srv.requests(), srv.inputs_embedded()), (2, 0));
    srv.set_fault(Fault::None);
    assert_eq!(
        call(&srv, "POST", "/api/embed", r#"{"model":"m","input":["a"]}"#).0,
        200
    );
    assert_eq!((srv.requests(), srv.inputs_embedded()), (3, 1));
    srv.reset_counts();
    assert_eq!((srv.requests(), srv.inputs_embedded()), (0, 0));
}

#[test]
fn fault_malformed_wrong_count_dimension_nan() {
    let srv = small();
    let req = r#"{"model":"m","input":["a","b","c"]}"#;
    srv.set_fault(Fault::MalformedJson);
    let (st, body) = call(&srv, "POST", "/api/embed", req);
    assert_eq!(st, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());

    srv.set_fault(Fault::WrongCount);
    let (_, body) = call(&srv, "POST", "/api/embed", req);
    assert_eq!(json(&body)["embeddings"].as_array().unwrap().len(), 2);
    let (_, body) = call(&srv, "POST", "/v1/embeddings", req);
    assert_eq!(json(&body)["data"].as_array().unwrap().len(), 2);

    srv.set_fault(Fault::WrongDimension);
    let (_, body) = call(&srv, "POST", "/api/embed", req);
    assert_eq!(floats(&json(&body)["embeddings"][2]).len(), WRONG_DIMENSION);

    srv.set_fault(Fault::NaN);
    let (st, body) = call(&srv, "POST", "/api/embed", req);
    assert_eq!(st, 200);
    assert!(body.contains("[[NaN,"), "{}", &body[..40]);
    assert!(serde_json::from_str::<Value>(&body).is_err());
    let (_, body) = call(
        &srv,
        "POST",
        "/api/embeddings",
        r#"{"model":"m","prompt":"p"}"#,
    );
    assert!(body.starts_with("{\"embedding\":[NaN,"));
    assert_eq!(srv.inputs_embedded(), 0, "faulty answers don't count");
}

#[test]
fn fault_poison_only_hits_matching_requests() {
    let srv = small();
    srv.set_fault(Fault::Poison("BAD".into()));
    let (st, body) = call(
        &srv,
        "POST",
        "/api/embed",
        r#"{"model":"m","input":["ok","xxBADxx"]}"#,
    );
    assert_eq!(st, 500);
    assert_eq!(json(&body)["error"], "fixture: poisoned input");
    assert_eq!(
        call(
            &srv,
            "POST",
            "/api/embed",
            r#"{"model":"m","input":["ok"]}"#
        )
        .0,
        200
    );
    assert_eq!(
        call(
            &srv,
            "POST",
            "/api/embeddings",
            r#"{"model":"m","prompt":"BAD"}"#
        )
        .0,
        500
    );
}

#[test]
fn fault_no_embed_endpoint() {
    let srv = small();
    srv.set_fault(Fault::NoEmbedEndpoint);
    let (st, body) = call(&srv, "POST", "/api/embed", r#"{"model":"m","input":["a"]}"#);
    assert_eq!((st, body.as_str()), (404, "404 page not found"));
    assert_eq!(
        call(
            &srv,
            "POST",
            "/api/embeddings",
            r#"{"model":"m","prompt":"a"}"#
        )
        .0,
        200
    );
}

#[test]
fn fault_for_next_n_requests() {
    let srv = small();
    srv.set_fault_for_next(2, Fault::Http500);
    let req = r#"{"model":"m","input":"a"}"#;
    assert_eq!(call(&srv, "POST", "/api/embed", req).0, 500);
    assert_eq!(srv.fault(), Fault::Http500);
    assert_eq!(call(&srv, "POST", "/api/embed", req).0, 500);
    assert_eq!(srv.fault(), Fault::None);
    assert_eq!(call(&srv, "POST", "/api/embed", req).0, 200);
}

#[test]
fn fault_delay() {
    let srv = small();
    srv.set_fault(Fault::Delay(Duration::from_millis(300)));
    let t = Instant::now();
    assert_eq!(
        call(&srv, "POST", "/api/embed", r#"{"model":"m","input":"a"}"#).0,
        200
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[test]
fn hang_blocks_only_its_connection_and_is_released() {
    let srv = Arc::new(small());
    srv.set_fault_for_next(1, Fault::Hang);
    let (tx, rx) = mpsc::channel();
    let s2 = Arc::clone(&srv);
    let h = thread::spawn(move || {
        let r = call(&s2, "POST", "/api/embed", r#"{"model":"m","input":"a"}"#);
        tx.send(r).unwrap();
    });
    // The hanging request is counted once it has been read.
    let t = Instant::now();
    while srv.requests() == 0 && t.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "must hang"
    );
    // Other connections are served meanwhile.
    assert_eq!(
        call(&srv, "POST", "/api/embed", r#"{"model":"m","input":"b"}"#).0,
        200
    );
    srv.set_fault(Fault::None);
    let (st, _) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(st, 200);
    h.join().unwrap();
}

#[test]
fn hang_then_stop_closes_connection() {
    let srv = small();
    srv.set_fault(Fault::Hang);
    let mut s = TcpStream::connect(addr(&srv)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    send(
        &mut s,
        "POST",
        "/api/embed",
        r#"{"model":"m","input":"a"}"#,
        &[],
    );
    let t = Instant::now();
    while srv.requests() == 0 && t.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(10));
    }
    srv.stop();
    let mut buf = Vec::new();
    // EOF or reset, never a response.
    let n = s.read_to_end(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn stop_refuses_and_restart_reuses_port() {
    let srv = small();
    let port = srv.port();
    // An idle keep-alive connection is closed by stop too.
    let mut idle = TcpStream::connect(addr(&srv)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    send(&mut idle, "GET", "/api/tags", "", &[]);
    let mut r = BufReader::new(idle.try_clone().unwrap());
    assert_eq!(read_response(&mut r).0, 200);
    srv.stop();
    assert!(!srv.is_running());
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).unwrap_or(0), 0);
    let e = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    srv.stop(); // idempotent
    srv.restart().unwrap();
    assert_eq!(srv.port(), port);
    assert_eq!(call(&srv, "GET", "/api/tags", "").0, 200);
    srv.restart().unwrap(); // restart while running
    assert_eq!(call(&srv, "GET", "/api/tags", "").0, 200);
}

#[test]
fn control_endpoints() {
    let srv = small();
    let req = r#"{"model":"m","input":["a","b"]}"#;
    assert_eq!(call(&srv, "POST", "/api/embed", req).0, 200);
    let (st, body) = call(&srv, "GET", "/fixture/stats", "");
    assert_eq!(st, 200);
    let v = json(&body);
    assert_eq!(
        (v["requests"].as_u64(), v["inputs"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        call(&srv, "POST", "/fixture/fault", r#"{"fault":"http500"}"#).0,
        200
    );
    assert_eq!(srv.fault(), Fault::Http500);
    assert_eq!(call(&srv, "POST", "/api/embed", req).0, 500);
    call(
        &srv,
        "POST",
        "/fixture/fault",
        r#"{"fault":"delay","delay_ms":5}"#,
    );
    assert_eq!(srv.fault(), Fault::Delay(Duration::from_millis(5)));
    call(
        &srv,
        "POST",
        "/fixture/fault",
        r#"{"fault":"poison","poison":"zz"}"#,
    );
    assert_eq!(srv.fault(), Fault::Poison("zz".into()));
    call(
        &srv,
        "POST",
        "/fixture/fault",
        r#"{"fault":"poison:yy","count":1}"#,
    );
    assert_eq!(srv.fault(), Fault::Poison("yy".into()));
    assert_eq!(
        call(&srv, "POST", "/fixture/fault", r#"{"fault":"bogus"}"#).0,
        400
    );
    assert_eq!(call(&srv, "POST", "/fixture/reset", "").0, 200);
    assert_eq!(srv.fault(), Fault::None);
    assert_eq!((srv.requests(), srv.inputs_embedded()), (0, 0));
}

#[test]
fn fault_names_round_trip() {
    let all = [
        Fault::None,
        Fault::Http500,
        Fault::Hang,
        Fault::Delay(Duration::from_millis(250)),
        Fault::MalformedJson,
        Fault::WrongCount,
        Fault::WrongDimension,
        Fault::NaN,
        Fault::Poison("a:b".into()),
        Fault::NoEmbedEndpoint,
    ];
    for f in all {
        assert_eq!(f.to_string().parse::<Fault>(), Ok(f));
    }
    assert_eq!("500".parse::<Fault>(), Ok(Fault::Http500));
    assert_eq!("404".parse::<Fault>(), Ok(Fault::NoEmbedEndpoint));
    assert_eq!("Malformed".parse::<Fault>(), Ok(Fault::MalformedJson));
    assert!("delay".parse::<Fault>().is_err());
    assert!("what".parse::<Fault>().unwrap_err().contains("valid:"));
}

#[test]
fn many_concurrent_clients() {
    let srv = Arc::new(small());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let s = Arc::clone(&srv);
            thread::spawn(move || {
                for j in 0..20 {
                    let t = format!("t{i}-{j}");
                    let (st, body) = call(
                        &s,
                        "POST",
                        "/api/embed",
                        &format!(r#"{{"model":"m","input":["{t}"]}}"#),
                    );
                    assert_eq!(st, 200);
                    assert_eq!(floats(&json(&body)["embeddings"][0]), raw_vector(&t, 64));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(srv.requests(), 160);
}
