//! The binary starts, prints its URL and answers control requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn get(addr: &str, method: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn binary_serves_and_is_controllable() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fixture-embedder"))
        .args(["--port", "0", "--native-dim", "16", "--fault=http500"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().trim_start_matches("http://").to_string();
    let r = get(&addr, "POST", "/api/embed", r#"{"model":"m","input":"x"}"#);
    assert!(r.starts_with("HTTP/1.1 500"), "{r}");
    get(&addr, "POST", "/fixture/fault", r#"{"fault":"none"}"#);
    let r = get(&addr, "POST", "/api/embed", r#"{"model":"m","input":"x"}"#);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let r = get(&addr, "GET", "/fixture/stats", "");
    assert!(
        r.contains(r#""requests":2"#) && r.contains(r#""inputs":1"#),
        "{r}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn binary_rejects_bad_arguments() {
    let st = Command::new(env!("CARGO_BIN_EXE_fixture-embedder"))
        .args(["--fault", "bogus"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(2));
}
