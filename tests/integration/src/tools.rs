//! PostgreSQL's client programs (pg_dump, pg_restore, psql) run as the
//! cluster's OS user against a connection string, and the previous release
//! of rag_search for the upgrade test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::{bindir, pg_command};

/// Runs `program` of `bindir` with `args`, feeding it `stdin`; panics with
/// its stderr unless it exits with status 0. Returns its stdout.
pub fn run(bindir: &Path, program: &str, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut cmd = pg_command(&bindir.join(program));
    cmd.args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    // Written from another thread: the program may fill its stdout pipe
    // before it has read all of its input.
    let feeder = stdin.map(|data| {
        let mut pipe = child.stdin.take().expect("stdin of the program");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("wait for {program}: {e}"));
    if let Some(f) = feeder {
        let _ = f.join();
    }
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// pg_dump's output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpFormat {
    /// `-Fc`, restored with pg_restore.
    Custom,
    /// `-Fp`, an SQL script replayed with psql.
    Plain,
}

/// `pg_dump` of the database `dsn` names.
pub fn pg_dump(dsn: &str, format: DumpFormat) -> Vec<u8> {
    let f = match format {
        DumpFormat::Custom => "-Fc",
        DumpFormat::Plain => "-Fp",
    };
    run(&bindir(), "pg_dump", &[f, "-d", dsn], None)
}

/// Loads a dump into the (empty) database `dsn` names: pg_restore for the
/// custom format, psql for a plain one; stops at the first error.
pub fn restore(dsn: &str, format: DumpFormat, dump: &[u8]) {
    match format {
        DumpFormat::Custom => pg_restore(dsn, dump, &[]),
        DumpFormat::Plain => {
            psql(dsn, dump);
        }
    };
}

/// pg_restore of a custom-format dump into `dsn` with extra arguments
/// (e.g. `--section=data`); stops at the first error.
pub fn pg_restore(dsn: &str, dump: &[u8], args: &[&str]) {
    let mut all = vec!["--exit-on-error", "-d", dsn];
    all.extend_from_slice(args);
    run(&bindir(), "pg_restore", &all, Some(dump));
}

/// The table of contents of a custom-format dump (`pg_restore -l`).
pub fn dump_contents(dump: &[u8]) -> String {
    String::from_utf8_lossy(&run(&bindir(), "pg_restore", &["-l"], Some(dump))).into_owned()
}

/// Runs an SQL script with psql (no psqlrc, stop at the first error);
/// returns its output.
pub fn psql(dsn: &str, script: &[u8]) -> Vec<u8> {
    run(&bindir(), "psql", &["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", "-"], Some(script))
}

/// The previous release of rag_search, installed into its own PostgreSQL
/// (built by scripts/test.sh).
pub struct PreviousRelease {
    pub bindir: PathBuf,
    pub version: String,
}

/// The previous release named by `RAG_PREVIOUS_PG_BINDIR` and
/// `RAG_PREVIOUS_VERSION`; None when the environment does not provide one.
pub fn previous_release() -> Option<PreviousRelease> {
    let bindir = PathBuf::from(std::env::var_os("RAG_PREVIOUS_PG_BINDIR")?);
    let version = std::env::var("RAG_PREVIOUS_VERSION").ok()?;
    bindir.join("postgres").exists().then_some(PreviousRelease { bindir, version })
}
