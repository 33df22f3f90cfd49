//! Shared parts of the benchmark programs: command line, connections, the
//! machine description, BENCHMARKS.md sections, percentiles and SVG charts.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use postgres::{Client, Config, NoTls};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// `--key value` pairs; the shell wrappers pass every argument, so a missing
/// one is a usage error.
pub struct Args(HashMap<String, String>);

impl Args {
    pub fn parse() -> Args {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(key) = it.next() {
            let Some(name) = key.strip_prefix("--") else {
                panic!("unexpected argument {key:?}; arguments are --key value pairs");
            };
            let value = it.next().unwrap_or_else(|| panic!("--{name} needs a value"));
            map.insert(name.to_string(), value);
        }
        Args(map)
    }

    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).unwrap_or_else(|| panic!("missing --{name}"))
    }
}

/// Drops and creates database `name` on the cluster of `dsn` and connects to it.
pub fn fresh_database(dsn: &str, name: &str) -> Result<Client> {
    let mut admin = Client::connect(dsn, NoTls)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let mut config: Config = dsn.parse()?;
    config.dbname(name);
    Ok(config.connect(NoTls)?)
}

/// Connects to database `name` on the cluster of `dsn`.
pub fn connect(dsn: &str, name: &str) -> Result<Client> {
    let mut config: Config = dsn.parse()?;
    config.dbname(name);
    Ok(config.connect(NoTls)?)
}

/// Connects to database `name` on the cluster of `dsn`, with a callback for
/// the server's notices (auto_explain reports plans as notices).
pub fn connect_with_notices(
    dsn: &str,
    name: &str,
    on_notice: impl Fn(String) + Send + Sync + 'static,
) -> Result<Client> {
    let mut config: Config = dsn.parse()?;
    config.dbname(name);
    config.notice_callback(move |n| on_notice(n.message().to_string()));
    Ok(config.connect(NoTls)?)
}

fn command_output(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
        Err(e) => format!("({program} failed: {e})"),
    }
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The machine as BENCHMARKS.md reports it: `nproc`, `free -g` and the CPU
/// model, plus the load averages at the start and the end of the run (the
/// machine may be shared, and other work inflates latencies).
pub fn machine_markdown(load_at_start: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    format!(
        "- CPU: {cpu}; `nproc`: {}; load average (1, 5, 15 min) at the start: {load_at_start}, at the end: {}\n\
         - `free -g`:\n\n```\n{}\n```\n",
        command_output("nproc", &[]),
        load_average(),
        command_output("free", &["-g"]),
    )
}

/// Replaces the section that starts with `heading` (a `## ` line) up to the
/// next `## ` heading in the markdown file at `path`, or appends it. `body`
/// must not contain `## ` headings of its own (use `###`).
pub fn replace_section(path: &Path, heading: &str, body: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| {
        "# Benchmarks\n\nProduced by the scripts in `bench/`; each section names the command that wrote it.\n"
            .to_string()
    });
    let section = format!("{heading}\n\n{}\n", body.trim_end());
    let mut out = String::new();
    let mut lines = old.lines().peekable();
    let mut replaced = false;
    while let Some(line) = lines.next() {
        if line.trim_end() == heading {
            out.push_str(&section);
            out.push('\n');
            while lines.peek().is_some_and(|l| !l.starts_with("## ")) {
                lines.next();
            }
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&section);
    }
    std::fs::write(path, out.trim_end().to_string() + "\n")?;
    Ok(())
}

/// Nearest-rank percentile of an ascending slice (`p` in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A grouped bar chart rendered as a standalone SVG.
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    /// Series names, one bar per series in every group.
    pub series: Vec<String>,
    /// Group label and one value per series.
    pub groups: Vec<(String, Vec<f64>)>,
    /// Horizontal reference lines (value, label), e.g. targets.
    pub lines: Vec<(f64, String)>,
    /// Logarithmic y axis, for values spanning orders of magnitude.
    pub log: bool,
}

const PALETTE: [&str; 4] = ["#4C78A8", "#F58518", "#54A24B", "#B279A2"];

impl BarChart {
    pub fn to_svg(&self) -> String {
        // Group labels are drawn at 40°: leave room below and to the right.
        let longest = self.groups.iter().map(|g| g.0.chars().count()).max().unwrap_or(0) as f64;
        let label_extent = longest * 6.0;
        let (left, right, top, bottom) = (70.0, 20.0 + label_extent * 0.77, 60.0, 30.0 + label_extent * 0.64);
        let bar_w = 22.0;
        let group_w = bar_w * self.series.len() as f64 + 24.0;
        let plot_w = group_w * self.groups.len() as f64;
        let plot_h = 260.0;
        let width = left + plot_w + right;
        let height = top + plot_h + bottom;

        let values = self.groups.iter().flat_map(|(_, v)| v.iter().copied()).chain(self.lines.iter().map(|l| l.0));
        let max = values.clone().fold(0.0_f64, f64::max).max(1e-9);
        let min_pos = values.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
        let (lo, hi) = if self.log {
            (10f64.powf(min_pos.log10().floor()), 10f64.powf(max.log10().ceil()))
        } else {
            (0.0, nice_ceiling(max))
        };
        let y = |v: f64| -> f64 {
            let t = if self.log { (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) } else { v / hi };
            top + plot_h * (1.0 - t.clamp(0.0, 1.0))
        };

        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(s, r#"<text x="{}" y="22" font-size="14" font-weight="bold">{}</text>"#, left, esc(&self.title));
        let _ = writeln!(
            s,
            r#"<text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
            top + plot_h / 2.0,
            esc(&self.y_label)
        );
        // Axis ticks: decades (and 2, 5) on a log axis, tenths of the range otherwise.
        let ticks: Vec<f64> = if self.log {
            let mut t = Vec::new();
            let mut d = lo;
            while d <= hi * 1.0001 {
                for m in [1.0, 2.0, 5.0] {
                    if d * m <= hi * 1.0001 {
                        t.push(d * m);
                    }
                }
                d *= 10.0;
            }
            t
        } else {
            (0..=5).map(|i| hi * i as f64 / 5.0).collect()
        };
        for t in ticks {
            let ty = y(t);
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                left + plot_w,
                left - 6.0,
                ty + 4.0,
                fmt_tick(t)
            );
        }
        for (gi, (label, vals)) in self.groups.iter().enumerate() {
            let gx = left + gi as f64 * group_w + 12.0;
            for (si, v) in vals.iter().enumerate() {
                let x = gx + si as f64 * bar_w;
                let top_y = y(*v);
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{top_y:.1}" width="{}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                    bar_w - 2.0,
                    top + plot_h - top_y,
                    PALETTE[si % PALETTE.len()],
                    x + (bar_w - 2.0) / 2.0,
                    top_y - 3.0,
                    fmt_value(*v)
                );
            }
            let cx = gx + bar_w * vals.len() as f64 / 2.0;
            let _ = writeln!(
                s,
                r#"<text transform="translate({cx:.1},{}) rotate(40)" text-anchor="start">{}</text>"#,
                top + plot_h + 14.0,
                esc(label)
            );
        }
        for (v, label) in &self.lines {
            let ly = y(*v);
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{ly:.1}" y2="{ly:.1}" stroke="#c00" stroke-dasharray="5,3"/><text x="{}" y="{:.1}" text-anchor="end" fill="#c00">{}</text>"##,
                left + plot_w,
                left + plot_w,
                ly - 3.0,
                esc(label)
            );
        }
        let _ = writeln!(
            s,
            r#"<line x1="{left}" x2="{left}" y1="{top}" y2="{}" stroke="black"/><line x1="{left}" x2="{}" y1="{}" y2="{}" stroke="black"/>"#,
            top + plot_h,
            left + plot_w,
            top + plot_h,
            top + plot_h
        );
        for (si, name) in self.series.iter().enumerate() {
            let lx = left + si as f64 * 110.0;
            let _ = writeln!(
                s,
                r#"<rect x="{lx}" y="34" width="12" height="12" fill="{}"/><text x="{}" y="44">{}</text>"#,
                PALETTE[si % PALETTE.len()],
                lx + 16.0,
                esc(name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

fn nice_ceiling(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|c| *c >= v).unwrap_or(10.0 * mag)
}

fn fmt_value(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Axis ticks: shortest decimal form (0.5, 2, 100).
fn fmt_tick(v: f64) -> String {
    let digits = 6 - v.abs().log10().floor().max(-6.0) as i32;
    let scale = 10f64.powi(digits.max(0));
    format!("{}", (v * scale).round() / scale)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
