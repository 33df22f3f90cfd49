//! `fuzz_bench --dsn "host=... port=... user=..." --fixture-url URL --dimension 8
//!  --seed N --inputs N --max-text N --server-log PATH --report PATH --command CMD --revision REV --date YYYY-MM-DD`
//!
//! The long run of the SQL fuzzer (the fast subset is
//! tests/fuzz_sql.rs): a fresh database pointed at the fixture embedder,
//! the sample corpus embedded, then `--inputs` generated calls under the
//! fuzzer's oracle. Writes the "SQL fuzzing" section of the report file
//! (inputs per call, errors per SQLSTATE, crashes) and exits non-zero when
//! a rule was broken, printing the findings.

use std::path::Path;
use std::process::ExitCode;

use rag_search_bench::{load_average, machine_markdown, replace_section, Args};
use rag_search_integration::backfill::fresh_database_at;
use rag_search_integration::fuzz::{self, Report, Run};

const DATABASE: &str = "rag_fuzz";
const HEADING: &str = "## SQL fuzzing";

fn main() -> ExitCode {
    let args = Args::parse();
    let dsn_base = args.get("dsn");
    let dimension: usize = args.get("dimension").parse().expect("--dimension");
    let seed: u64 = args.get("seed").parse().expect("--seed");
    let inputs: usize = args.get("inputs").parse().expect("--inputs");
    let max_text: usize = args.get("max-text").parse().expect("--max-text");
    let load_at_start = load_average();

    let dsn = fresh_database_at(dsn_base, DATABASE, args.get("fixture-url"));
    let mut c = rag_search_integration::connect_dsn(&dsn);
    fuzz::seed_corpus(&mut c, dimension);
    drop(c);

    let progress = |done: usize, report: &Report| {
        eprintln!(
            "[fuzz] {done}/{inputs} inputs, {} errors, {} findings",
            report.by_sqlstate.values().sum::<usize>(),
            report.findings.len()
        );
    };
    let run = Run {
        dsn: &dsn,
        seed,
        inputs,
        max_text,
        fixture_url: args.get("fixture-url"),
        dimension,
        progress: Some((1_000, &progress)),
    };
    let (report, _client) = run.execute();
    let log = std::fs::read_to_string(args.get("server-log")).unwrap_or_default();
    let fatal = fuzz::crash_log_lines(&log);

    let body = format!(
        "Command: `{}`, rag_search at {}, release build, {}.\n\n{}\nThe server log has {} lines reporting a \
         crashed backend.\n\n{}",
        args.get("command"),
        args.get("revision"),
        args.get("date"),
        report.markdown(),
        fatal.len(),
        machine_markdown(&load_at_start),
    );
    if let Err(e) = replace_section(Path::new(args.get("report")), HEADING, &body) {
        eprintln!("[fuzz] cannot write the report: {e}");
        return ExitCode::FAILURE;
    }
    println!("{body}");
    if report.passed() && fatal.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("[fuzz] {} findings:\n{}", report.findings.len(), report.findings_summary());
        for line in fatal.iter().take(5) {
            eprintln!("[fuzz] server log: {line}");
        }
        ExitCode::FAILURE
    }
}
