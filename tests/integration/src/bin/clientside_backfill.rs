//! `clientside_backfill --dsn DSN --url URL [--model M] [--dim 1024] [--batch 256] [--per-row]`
//!
//! The baseline the in-database backfill is measured against: a plain
//! client program doing the same job the way the shell-script runbook did.
//! Loop: select chunks without an embedding, send their texts to the
//! embedding server (the same HTTP client and validation as the
//! extension), write the vectors back — in one UPDATE per batch, or with
//! `--per-row` one UPDATE per chunk (in one transaction per batch), as
//! simple scripts do. Prints `embedded N chunks in S s`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use pgvector::Vector;
use postgres::{Client, NoTls};
use rag_core::embed::{EmbedClient, EmbedConfig, Provider};

struct Args {
    dsn: String,
    url: String,
    model: String,
    dim: usize,
    batch: i64,
    per_row: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dsn: String::new(),
        url: String::new(),
        model: "qwen3-embedding:8b".into(),
        dim: 1024,
        batch: 256,
        per_row: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--per-row" {
            args.per_row = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dsn" => args.dsn = value,
            "--url" => args.url = value,
            "--model" => args.model = value,
            "--dim" => args.dim = value.parse().map_err(|_| format!("--dim: {value}"))?,
            "--batch" => args.batch = value.parse().map_err(|_| format!("--batch: {value}"))?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if args.dsn.is_empty() || args.url.is_empty() {
        return Err("--dsn and --url are required".into());
    }
    Ok(args)
}

fn run(args: &Args) -> Result<(u64, Duration), String> {
    let mut db = Client::connect(&args.dsn, NoTls).map_err(|e| format!("connect: {e}"))?;
    let mut embedder = EmbedClient::new(EmbedConfig {
        url: args.url.clone(),
        provider: Provider::Ollama,
        model: args.model.clone(),
        dimension: args.dim,
        timeout: Duration::from_secs(120),
        max_chars: 2000,
        api_key: None,
    });
    let select = db
        .prepare(
            "SELECT id, content FROM rag_search.chunks WHERE embedding IS NULL ORDER BY id LIMIT $1",
        )
        .map_err(|e| format!("prepare select: {e}"))?;
    let update = db
        .prepare(
            "UPDATE rag_search.chunks AS c
             SET embedding = t.embedding, embedding_model = $3, embedding_dim = $4, embedded_at = now()
             FROM unnest($1::bigint[], $2::vector[]) AS t(id, embedding)
             WHERE c.id = t.id",
        )
        .map_err(|e| format!("prepare update: {e}"))?;
    let update_one = db
        .prepare(
            "UPDATE rag_search.chunks
             SET embedding = $2, embedding_model = $3, embedding_dim = $4, embedded_at = now()
             WHERE id = $1",
        )
        .map_err(|e| format!("prepare update: {e}"))?;
    let started = Instant::now();
    let mut done = 0u64;
    loop {
        let rows = db.query(&select, &[&args.batch]).map_err(|e| format!("select: {e}"))?;
        if rows.is_empty() {
            break;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let texts: Vec<String> = rows.iter().map(|r| r.get::<_, String>(1)).collect();
        let vectors = embedder.embed(&texts, &|| false).map_err(|e| format!("embed: {e}"))?;
        let vectors: Vec<Vector> = vectors.into_iter().map(Vector::from).collect();
        let dim = args.dim as i32;
        if args.per_row {
            let mut tx = db.transaction().map_err(|e| format!("begin: {e}"))?;
            for (id, v) in ids.iter().zip(&vectors) {
                tx.execute(&update_one, &[id, v, &args.model, &dim]).map_err(|e| format!("update: {e}"))?;
            }
            tx.commit().map_err(|e| format!("commit: {e}"))?;
        } else {
            db.execute(&update, &[&ids, &vectors, &args.model, &dim]).map_err(|e| format!("update: {e}"))?;
        }
        done += ids.len() as u64;
    }
    Ok((done, started.elapsed()))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("clientside_backfill: {e}");
            eprintln!("usage: clientside_backfill --dsn DSN --url URL [--model M] [--dim 1024] [--batch 256] [--per-row]");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok((n, elapsed)) => {
            println!("embedded {n} chunks in {:.3} s", elapsed.as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("clientside_backfill: {e}");
            ExitCode::FAILURE
        }
    }
}
