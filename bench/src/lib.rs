//! Shared parts of the benchmark programs: command line, connections, the
//! machine description, BENCHMARKS.md sections, percentiles and SVG charts;
//! the datasets and metrics ([`beir`]), loading and inspecting a corpus
//! ([`db`]), the client-side reference retriever ([`reference`]) and seeded
//! randomness ([`rng`]).

pub mod beir;
pub mod db;
pub mod reference;
pub mod rng;

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

    /// An optional argument.
    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.0.get(name).map_or(default, String::as_str)
    }
}

/// A list of positive counts such as `10000,30000,100000` (commas or
/// spaces), ascending and without repeats.
pub fn parse_counts(list: &str) -> Result<Vec<usize>> {
    let mut counts = Vec::new();
    for item in list.split([',', ' ']).filter(|s| !s.trim().is_empty()) {
        let n: usize = item.trim().replace('_', "").parse().map_err(|_| format!("not a count: {item:?}"))?;
        if n == 0 {
            return Err(format!("counts must be positive: {list:?}").into());
        }
        counts.push(n);
    }
    if counts.is_empty() {
        return Err(format!("no counts in {list:?}").into());
    }
    counts.sort_unstable();
    counts.dedup();
    Ok(counts)
}

/// A count for a label or an axis: 512, 1024, 10k, 2.5k, 1M — shortened
/// only where the short form is exact.
pub fn fmt_count(n: f64) -> String {
    for (unit, suffix) in [(1e6, "M"), (1e3, "k")] {
        if n >= unit && (n / unit * 10.0).fract() == 0.0 {
            return format!("{}{suffix}", n / unit);
        }
    }
    format!("{n}")
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
    write_section(path, heading, body, false)
}

/// Like [`replace_section`], but a new section goes first: before the first
/// `## ` heading or `<!-- …:start -->` marker line (for the headline
/// benchmark).
pub fn replace_section_first(path: &Path, heading: &str, body: &str) -> Result<()> {
    write_section(path, heading, body, true)
}

fn write_section(path: &Path, heading: &str, body: &str, first: bool) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| {
        "# Benchmarks\n\nProduced by the scripts in `bench/`; each section names the command that wrote it.\n"
            .to_string()
    });
    std::fs::write(path, with_section(&old, heading, body, first))?;
    Ok(())
}

/// Where a section ends: the next `## ` heading or the start marker of a
/// section that another script replaces between markers.
fn starts_section(line: &str) -> bool {
    line.starts_with("## ") || (line.starts_with("<!-- ") && line.trim_end().ends_with(":start -->"))
}

fn with_section(old: &str, heading: &str, body: &str, first: bool) -> String {
    let section = format!("{heading}\n\n{}\n", body.trim_end());
    let present = old.lines().any(|l| l.trim_end() == heading);
    let mut out = String::new();
    let mut lines = old.lines().peekable();
    let mut placed = false;
    while let Some(line) = lines.next() {
        if !placed && line.trim_end() == heading {
            out.push_str(&section);
            out.push('\n');
            while lines.peek().is_some_and(|l| !starts_section(l)) {
                lines.next();
            }
            placed = true;
        } else if !placed && !present && first && starts_section(line) {
            out.push_str(&section);
            out.push('\n');
            out.push_str(line);
            out.push('\n');
            placed = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !placed {
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&section);
    }
    out.trim_end().to_string() + "\n"
}

/// Nearest-rank percentile of an ascending slice (`p` in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Latency of one measured variant over a pass of queries.
pub struct Summary {
    pub p50: f64,
    pub p95: f64,
    pub mean: f64,
    /// Index of the query with the median latency (for EXPLAIN).
    pub median_query: usize,
}

/// p50, p95 and mean of (query index, milliseconds) pairs.
pub fn summarize(times: &[(usize, f64)]) -> Summary {
    let mut sorted = times.to_vec();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let ms: Vec<f64> = sorted.iter().map(|t| t.1).collect();
    Summary {
        p50: percentile(&ms, 50.0),
        p95: percentile(&ms, 95.0),
        mean: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
        median_query: sorted.get(sorted.len() / 2).map_or(0, |t| t.0),
    }
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

const PALETTE: [&str; 7] = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#9D755D"];

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
        let (lo, hi, ticks) = value_axis(min_pos, max, self.log);
        let y = |v: f64| top + plot_h * (1.0 - axis_fraction(v, lo, hi, self.log));

        let mut s = svg_start(width, height, left, top + plot_h / 2.0, &self.title, &self.y_label);
        y_grid(&mut s, &ticks, left, plot_w, y);
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
        axes(&mut s, left, top, plot_w, plot_h);
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

/// One line of a [`LineChart`].
pub struct Series {
    pub name: String,
    /// Index into the palette: series of one colour belong together (e.g.
    /// p50 and p95 of one mode).
    pub color: usize,
    pub dashed: bool,
    /// (x, y) points; drawn in the order given.
    pub points: Vec<(f64, f64)>,
}

/// A line chart rendered as a standalone SVG: x ticks at the points' x
/// values (labelled as counts), a legend to the right of the plot.
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub x_log: bool,
    pub y_log: bool,
    /// Print each point's value next to it (for charts with few lines).
    pub point_labels: bool,
}

/// The opening of a standalone SVG: white background, bold title, rotated
/// y-axis label centred at height `label_y`.
fn svg_start(width: f64, height: f64, left: f64, label_y: f64, title: &str, y_label: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{left}" y="22" font-size="14" font-weight="bold">{}</text>"#, esc(title));
    let _ = writeln!(
        s,
        r#"<text transform="translate(16,{label_y}) rotate(-90)" text-anchor="middle">{}</text>"#,
        esc(y_label)
    );
    s
}

/// Horizontal grid lines with their labels left of the plot.
fn y_grid(s: &mut String, ticks: &[f64], left: f64, plot_w: f64, y: impl Fn(f64) -> f64) {
    for t in ticks {
        let ty = y(*t);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 6.0,
            ty + 4.0,
            fmt_tick(*t)
        );
    }
}

/// The x and y axis lines of a plot area.
fn axes(s: &mut String, left: f64, top: f64, plot_w: f64, plot_h: f64) {
    let bottom = top + plot_h;
    let _ = writeln!(
        s,
        r#"<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="black"/><line x1="{left}" x2="{}" y1="{bottom}" y2="{bottom}" stroke="black"/>"#,
        left + plot_w
    );
}

/// Where `v` falls between `lo` and `hi` on a linear or logarithmic axis, 0..=1.
fn axis_fraction(v: f64, lo: f64, hi: f64, log: bool) -> f64 {
    let t = if log { (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) } else { (v - lo) / (hi - lo) };
    if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 }
}

/// Axis range and ticks for values from `min` to `max`: whole decades with
/// 1-2-5 ticks on a log axis, 0 to a round ceiling in fifths otherwise.
fn value_axis(min: f64, max: f64, log: bool) -> (f64, f64, Vec<f64>) {
    if log {
        let lo = 10f64.powf(min.log10().floor());
        let hi = 10f64.powf(max.log10().ceil()).max(lo * 10.0);
        let mut ticks = Vec::new();
        let mut d = lo;
        while d <= hi * 1.0001 {
            for m in [1.0, 2.0, 5.0] {
                if d * m <= hi * 1.0001 {
                    ticks.push(d * m);
                }
            }
            d *= 10.0;
        }
        (lo, hi, ticks)
    } else {
        let hi = nice_ceiling(max.max(1e-9));
        (0.0, hi, (0..=5).map(|i| hi * i as f64 / 5.0).collect())
    }
}

impl LineChart {
    pub fn to_svg(&self) -> String {
        let points = || self.series.iter().flat_map(|s| s.points.iter().copied());
        let mut xs: Vec<f64> = points().map(|p| p.0).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let ys: Vec<f64> = points().map(|p| p.1).filter(|y| y.is_finite() && (!self.y_log || *y > 0.0)).collect();
        let y_min = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let y_max = ys.iter().copied().fold(0.0_f64, f64::max);
        let (y_lo, y_hi, y_ticks) = if ys.is_empty() { (0.0, 1.0, vec![0.0, 1.0]) } else { value_axis(y_min, y_max, self.y_log) };
        let (x_lo, x_hi) = match (xs.first(), xs.last()) {
            (Some(a), Some(b)) if a < b => (*a, *b),
            (Some(a), _) => (a * 0.5, a * 1.5),
            _ => (0.0, 1.0),
        };

        let legend_w = 20.0 + 7.0 * self.series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as f64;
        let (left, top, plot_w, plot_h) = (70.0, 40.0, 480.0, 300.0);
        let width = left + plot_w + 40.0 + legend_w + 20.0;
        let height = top + plot_h + 50.0;
        // Points are inset from the plot's edges so end labels stay inside.
        let x = |v: f64| left + 20.0 + (plot_w - 40.0) * axis_fraction(v, x_lo, x_hi, self.x_log);
        let y = |v: f64| top + plot_h * (1.0 - axis_fraction(v, y_lo, y_hi, self.y_log));

        let mut s = svg_start(width, height, left, top + plot_h / 2.0, &self.title, &self.y_label);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            left + plot_w / 2.0,
            top + plot_h + 38.0,
            esc(&self.x_label)
        );
        y_grid(&mut s, &y_ticks, left, plot_w, y);
        for v in &xs {
            let tx = x(*v);
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{top}" y2="{}" stroke="#eee"/><text x="{tx:.1}" y="{}" text-anchor="middle">{}</text>"##,
                top + plot_h,
                top + plot_h + 16.0,
                fmt_count(*v)
            );
        }
        axes(&mut s, left, top, plot_w, plot_h);
        for series in &self.series {
            let color = PALETTE[series.color % PALETTE.len()];
            let dash = if series.dashed { r#" stroke-dasharray="6,4""# } else { "" };
            let visible: Vec<(f64, f64)> =
                series.points.iter().copied().filter(|p| p.1.is_finite() && (!self.y_log || p.1 > 0.0)).collect();
            let path: Vec<String> = visible.iter().map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py))).collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
                path.join(" ")
            );
            for (px, py) in &visible {
                let _ = write!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#, x(*px), y(*py));
                if self.point_labels {
                    let _ = write!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="{color}">{}</text>"#,
                        x(*px),
                        y(*py) - 6.0,
                        fmt_value(*py)
                    );
                }
            }
            s.push('\n');
        }
        let lx = left + plot_w + 40.0;
        for (i, series) in self.series.iter().enumerate() {
            let ly = top + 10.0 + i as f64 * 18.0;
            let dash = if series.dashed { r#" stroke-dasharray="6,4""# } else { "" };
            let _ = writeln!(
                s,
                r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
                lx + 24.0,
                PALETTE[series.color % PALETTE.len()],
                lx + 30.0,
                ly + 4.0,
                esc(&series.name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

fn nice_ceiling(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0].iter().map(|m| m * mag).find(|c| *c >= v).unwrap_or(10.0 * mag)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_parsed_sorted_and_deduplicated() {
        assert_eq!(parse_counts("100000,10000 30_000,10000").unwrap(), vec![10_000, 30_000, 100_000]);
        assert_eq!(parse_counts(" 8, 32 ,").unwrap(), vec![8, 32]);
        assert!(parse_counts("").is_err());
        assert!(parse_counts("10,0").is_err());
        assert!(parse_counts("10,ten").is_err());
    }

    #[test]
    fn sections_are_replaced_in_place_or_added() {
        let doc = "# B\n\nintro\n\n<!-- a:start -->\n## A\n\nold a\n<!-- a:end -->\n\n## C\n\nc\n";
        let replaced = with_section(doc, "## C", "new c", true);
        assert_eq!(replaced, "# B\n\nintro\n\n<!-- a:start -->\n## A\n\nold a\n<!-- a:end -->\n\n## C\n\nnew c\n");
        let appended = with_section(doc, "## D", "d", false);
        assert!(appended.ends_with("## C\n\nc\n\n## D\n\nd\n"));
        let first = with_section(doc, "## D", "d", true);
        assert!(first.starts_with("# B\n\nintro\n\n## D\n\nd\n\n<!-- a:start -->\n## A\n"));
        // Once present, it is replaced where it stands.
        assert_eq!(with_section(&first, "## D", "d2", true), first.replace("\nd\n", "\nd2\n"));
    }

    #[test]
    fn latencies_are_summarized_with_the_median_query() {
        let s = summarize(&[(0, 5.0), (1, 1.0), (2, 3.0), (3, 2.0), (4, 4.0)]);
        assert_eq!((s.p50, s.p95, s.mean, s.median_query), (3.0, 5.0, 3.0, 2));
        assert!(summarize(&[]).p50.is_nan());
    }

    #[test]
    fn counts_are_formatted_short() {
        assert_eq!(fmt_count(512.0), "512");
        assert_eq!(fmt_count(10_000.0), "10k");
        assert_eq!(fmt_count(2_500.0), "2.5k");
        assert_eq!(fmt_count(1_000_000.0), "1M");
        assert_eq!(fmt_count(1024.0), "1024");
        assert_eq!(fmt_count(30_000.0), "30k");
    }

    #[test]
    fn log_axis_spans_whole_decades() {
        let (lo, hi, ticks) = value_axis(1.7, 930.0, true);
        assert_eq!((lo, hi), (1.0, 1000.0));
        assert_eq!(ticks, vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]);
        // A single decade still gets a range.
        let (lo, hi, _) = value_axis(10.0, 10.0, true);
        assert_eq!((lo, hi), (10.0, 100.0));
        let (lo, hi, ticks) = value_axis(3.0, 1234.0, false);
        assert_eq!((lo, hi, ticks.len()), (0.0, 1500.0, 6));
        let (_, hi, _) = value_axis(0.0, 26_981.0, false);
        assert_eq!(hi, 30_000.0);
    }

    #[test]
    fn axis_fraction_is_clamped_and_logarithmic() {
        assert_eq!(axis_fraction(10.0, 1.0, 100.0, true), 0.5);
        assert_eq!(axis_fraction(0.0, 1.0, 100.0, true), 0.0);
        assert_eq!(axis_fraction(500.0, 0.0, 100.0, false), 1.0);
        assert_eq!(axis_fraction(5.0, 5.0, 5.0, false), 0.5);
    }

    fn chart(points: Vec<(f64, f64)>) -> LineChart {
        LineChart {
            title: "t <&>".into(),
            x_label: "chunks".into(),
            y_label: "ms".into(),
            series: vec![
                Series { name: "hybrid p50".into(), color: 0, dashed: false, points: points.clone() },
                Series { name: "hybrid p95".into(), color: 0, dashed: true, points },
            ],
            x_log: true,
            y_log: true,
            point_labels: true,
        }
    }

    #[test]
    fn line_chart_draws_every_series_and_point() {
        let svg = chart(vec![(10_000.0, 2.0), (30_000.0, 5.0), (100_000.0, 20.0)]).to_svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 6);
        // The dashed series is dashed in the plot and in the legend.
        assert_eq!(svg.matches("stroke-dasharray").count(), 2);
        assert!(svg.contains(">10k<") && svg.contains(">30k<") && svg.contains(">100k<"));
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn line_chart_skips_points_a_log_axis_cannot_show() {
        let svg = chart(vec![(8.0, 0.0), (32.0, f64::NAN), (128.0, 3.0)]).to_svg();
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(!svg.contains("NaN"));
        // No finite point at all still renders.
        let empty = chart(vec![(8.0, f64::NAN)]).to_svg();
        assert!(!empty.contains("NaN"));
    }
}
