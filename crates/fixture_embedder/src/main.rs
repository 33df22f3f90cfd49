//! `fixture-embedder --port N [--native-dim 4096] [--dim 1024] [--model NAME]
//! [--fault SPEC] [--api-key KEY] [--strict-model]`
//!
//! Runs the fixture server in the foreground on 127.0.0.1 and prints its URL
//! on the first line of stdout (port 0 picks a free port).

use std::io::Write;
use std::process::ExitCode;

use fixture_embedder::{Fault, FixtureConfig, FixtureServer};

const USAGE: &str = "usage: fixture-embedder [--port N] [--native-dim N] [--dim N] [--model NAME] \
[--fault none|http500|hang|delay:MS|malformed_json|wrong_count|wrong_dimension|nan|poison:SUBSTRING|no_embed_endpoint] \
[--api-key KEY] [--strict-model]";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<FixtureConfig, String> {
    let mut cfg = FixtureConfig::default();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "--strict-model" {
            cfg.strict_model = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{flag} needs a value")),
        };
        let num = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--port" => {
                cfg.port = value
                    .parse()
                    .map_err(|_| format!("--port: bad port: {value}"))?
            }
            "--native-dim" => cfg.native_dim = num(&value)?,
            "--dim" => cfg.dim = num(&value)?,
            "--model" => cfg.model = value,
            "--fault" => cfg.fault = value.parse::<Fault>()?,
            "--api-key" => cfg.api_key = Some(value),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if cfg.native_dim == 0 {
        return Err("--native-dim must be positive".into());
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("fixture-embedder: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let srv = match FixtureServer::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fixture-embedder: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    if writeln!(out, "{}", srv.url())
        .and_then(|_| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    // Serve until killed.
    loop {
        std::thread::park();
    }
}
