//! `cargo xtask bench [--quick] [SECTION…]`: airlock against its peers on the same
//! bytes, one section per protocol (`go`, …; none named means all).
//!
//! Every load scenario runs each target in interleaved rounds (airlock, peer, peer,
//! airlock, …) and reports medians; the result is the ratio airlock/peer from the
//! same run, since absolute numbers on a shared 2-core machine are noise. Not part
//! of the test suite: nothing here asserts, it reports. A full run rewrites each
//! section it ran in `docs/benchmarks.md` (between `<!-- bench:NAME -->` markers)
//! and leaves the other sections as they were.

mod go;
mod oci;
mod procs;
mod pypi;
mod wrk;
mod yum;

use procs::Server;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A section: its name on the command line and in `docs/benchmarks.md`, and its run.
type SectionFn = fn(&Ctx) -> Result<Section, String>;

/// Every section, in the order a full run takes them.
const SECTIONS: &[(&str, SectionFn)] = &[
    ("go", go::run),
    ("oci", oci::run),
    ("pypi", pypi::run),
    ("yum", yum::run),
];

/// What every section gets.
pub struct Ctx {
    /// The release build of airlock.
    pub airlock_bin: PathBuf,
    /// `target/bench/<section>/`: the section's fixtures and run directories.
    pub work: PathBuf,
    /// `--quick`: one round, short loads, small fixtures.
    pub quick: bool,
    /// Rounds per measured cell (medians are taken over them).
    pub rounds: usize,
    /// Seconds of load per cell for large objects (hundreds of MB).
    pub large_secs: u32,
    /// Seconds of load per cell for small requests.
    pub small_secs: u32,
    /// Seconds of load per cell for medium objects (a few MB).
    pub medium_secs: u32,
}

/// A target of the issue, met or not.
pub struct Check {
    /// What was compared, with the measured value.
    pub what: String,
    /// Whether the target was met.
    pub ok: bool,
}

impl Check {
    pub fn new(what: impl Into<String>, ok: bool) -> Check {
        Check {
            what: what.into(),
            ok,
        }
    }
}

/// What a section produced.
#[derive(Default)]
pub struct Section {
    /// The section's text in `docs/benchmarks.md` (tables and ratio lines).
    pub report: String,
    /// PASS/MISS lines, printed after the report.
    pub checks: Vec<Check>,
    /// JSON lines for `target/bench/results-*.jsonl`.
    pub raw: String,
}

/// One measured load run (or the median of several).
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub target: String,
    pub conc: u32,
    pub load: wrk::LoadResult,
    pub cpu_us_per_req: f64,
    pub peak_rss_mib: f64,
}

impl Row {
    fn json(&self, round: usize) -> String {
        let r = self;
        format!(
            "{{\"scenario\":\"{}\",\"target\":\"{}\",\"conc\":{},\"round\":{round},\"rps\":{:.1},\"mbps\":{:.2},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"requests\":{},\"errors\":{},\"cpu_us_per_req\":{:.2},\"peak_rss_mib\":{:.1}}}\n",
            r.scenario, r.target, r.conc, r.load.rps, r.load.mbps, r.load.p50_ms, r.load.p99_ms, r.load.requests, r.load.errors, r.cpu_us_per_req, r.peak_rss_mib
        )
    }
}

/// A timed command (ingest, pull-through, push, …).
#[derive(Clone, Debug)]
pub struct Timed {
    pub scenario: String,
    pub target: String,
    pub seconds: f64,
    pub bytes: u64,
    pub files: u64,
    pub peak_rss_mib: f64,
}

impl Timed {
    pub fn json(&self) -> String {
        format!(
            "{{\"scenario\":\"{}\",\"target\":\"{}\",\"seconds\":{:.4},\"bytes\":{},\"files\":{},\"peak_rss_mib\":{:.1}}}\n",
            self.scenario, self.target, self.seconds, self.bytes, self.files, self.peak_rss_mib
        )
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `x / y`, or 0 when there is nothing to divide by.
pub fn ratio(x: f64, y: f64) -> f64 {
    if y > 0.0 {
        x / y
    } else {
        0.0
    }
}

/// The median of the seconds of one scenario's target.
pub fn median_secs(timed: &[Timed], scenario: &str, target: &str) -> f64 {
    median(
        timed
            .iter()
            .filter(|t| t.scenario == scenario && t.target == target)
            .map(|t| t.seconds)
            .collect(),
    )
}

/// Fails with the apt packages to install when a tool is not on PATH.
pub fn require_tools(tools: &[(&str, &str)]) -> Result<(), String> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(tool, _)| which(tool).is_none())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "missing tools; install them with: apt-get install {}",
            missing.join(" ")
        ))
    }
}

/// A program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Entry point.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut chosen: Vec<(&str, SectionFn)> = Vec::new();
    for arg in args.iter().filter(|a| !a.starts_with("--")) {
        match SECTIONS.iter().find(|(name, _)| name == arg) {
            Some(section) => chosen.push(*section),
            None => {
                let names: Vec<&str> = SECTIONS.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown bench section {arg:?}; sections: {}",
                    names.join(", ")
                ));
            }
        }
    }
    if chosen.is_empty() {
        chosen = SECTIONS.to_vec();
    }
    require_tools(&[("wrk", "wrk"), ("nginx", "nginx-light"), ("curl", "curl")])?;
    crate::run(crate::cargo().current_dir(root).args([
        "build",
        "--release",
        "--locked",
        "-p",
        "airlock",
    ]))?;
    let bench_dir = root.join("target/bench");
    let stamp = utc_now();
    let mut raw = String::new();
    let mut printed = String::new();
    let mut doc = std::fs::read_to_string(root.join("docs/benchmarks.md")).unwrap_or_default();
    for (name, section_fn) in chosen {
        let ctx = Ctx {
            airlock_bin: root.join("target/release/airlock"),
            work: bench_dir.join(name),
            quick,
            rounds: if quick { 1 } else { 3 },
            large_secs: if quick { 2 } else { 4 },
            small_secs: if quick { 1 } else { 2 },
            medium_secs: if quick { 1 } else { 2 },
        };
        std::fs::create_dir_all(&ctx.work).map_err(|e| e.to_string())?;
        eprintln!("bench: section {name}");
        let started = Instant::now();
        let section = section_fn(&ctx)?;
        let mut text = section.report;
        if !section.checks.is_empty() {
            text.push('\n');
            for check in &section.checks {
                let _ = writeln!(
                    text,
                    "{} {}",
                    if check.ok { "PASS" } else { "MISS" },
                    check.what
                );
            }
        }
        let _ = writeln!(
            text,
            "\n({} rounds per cell, section took {:.0}s)",
            ctx.rounds,
            started.elapsed().as_secs_f64()
        );
        let _ = writeln!(printed, "== {name}\n{text}");
        raw.push_str(&section.raw);
        doc = replace_section(&doc, name, &stamp, &text);
    }
    println!("{printed}");
    std::fs::create_dir_all(&bench_dir).map_err(|e| e.to_string())?;
    std::fs::write(bench_dir.join(format!("results-{stamp}.jsonl")), &raw)
        .map_err(|e| e.to_string())?;
    if !quick {
        std::fs::write(root.join("docs/benchmarks.md"), doc).map_err(|e| e.to_string())?;
        eprintln!("bench: docs/benchmarks.md updated");
    }
    Ok(())
}

const DOC_HEAD: &str =
    "# Benchmarks\n\nWritten by `cargo xtask bench` (a full run; `cargo xtask bench oci` reruns \
one section and rewrites only its part); raw results are in `target/bench/results-*.jsonl`. Read \
the ratios, not the absolute numbers: the machine is shared and small.\n";

/// `doc` with section `name` replaced by (or extended with) `text`.
fn replace_section(doc: &str, name: &str, stamp: &str, text: &str) -> String {
    let (open, close) = (
        format!("<!-- bench:{name} -->"),
        format!("<!-- /bench:{name} -->"),
    );
    let body = format!(
        "{open}\n## {name}\n\n- Date: {stamp}\n- Machine: {}\n\n```text\n{text}```\n{close}\n",
        machine()
    );
    let doc = if doc.contains("<!-- bench:") {
        doc.to_owned()
    } else {
        // The file from before sections: start over.
        DOC_HEAD.to_owned()
    };
    match (doc.find(&open), doc.find(&close)) {
        (Some(start), Some(end)) if end > start => {
            let end = end + close.len();
            let end = if doc[end..].starts_with('\n') {
                end + 1
            } else {
                end
            };
            format!("{}{body}{}", &doc[..start], &doc[end..])
        }
        _ => format!("{}\n{body}", doc.trim_end()),
    }
}

/// One load scenario: a path served by every target, at several concurrencies.
pub struct Scenario<'a> {
    pub name: &'a str,
    /// Path and query, appended to each target's base URL.
    pub path: &'a str,
    pub concs: &'a [u32],
    pub secs: u32,
}

/// Runs `scenario` against every target in interleaved rounds; returns one median
/// row per target and concurrency (raw rows go to `raw`).
pub fn measure(
    ctx: &Ctx,
    targets: &[&Server],
    scenario: &Scenario,
    raw: &mut String,
) -> Result<Vec<Row>, String> {
    measure_urls(
        ctx,
        &targets
            .iter()
            .map(|t| (*t, format!("{}{}", t.base, scenario.path)))
            .collect::<Vec<_>>(),
        scenario,
        raw,
    )
}

/// [`measure`] with a URL per target (peers may name the same bytes differently).
pub fn measure_urls(
    ctx: &Ctx,
    targets: &[(&Server, String)],
    scenario: &Scenario,
    raw: &mut String,
) -> Result<Vec<Row>, String> {
    measure_urls_with(ctx, targets, scenario, &[], raw)
}

/// [`measure_urls`] sending request `headers` (`"Name: value"`), such as the
/// `Accept` a registry needs to serve a manifest.
pub fn measure_urls_with(
    ctx: &Ctx,
    targets: &[(&Server, String)],
    scenario: &Scenario,
    headers: &[&str],
    raw: &mut String,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for &conc in scenario.concs {
        let mut runs: Vec<Row> = Vec::new();
        for round in 0..ctx.rounds {
            // Alternate the order so no target always runs first.
            let order: Vec<&(&Server, String)> = if round % 2 == 0 {
                targets.iter().collect()
            } else {
                targets.iter().rev().collect()
            };
            for (target, url) in order {
                target.reset_peak();
                let cpu = target.cpu_seconds();
                let load = wrk::run_with(url, conc, scenario.secs, headers)?;
                let cpu = target.cpu_seconds() - cpu;
                let row = Row {
                    scenario: scenario.name.to_owned(),
                    target: target.name.clone(),
                    conc,
                    cpu_us_per_req: ratio(cpu * 1e6, load.requests),
                    peak_rss_mib: target.peak_rss_mib(),
                    load,
                };
                if row.load.errors > 0.0 {
                    eprintln!(
                        "bench: {} {} c={conc}: {} errors",
                        row.target, scenario.name, row.load.errors
                    );
                }
                raw.push_str(&row.json(round));
                runs.push(row);
            }
        }
        for (target, _) in targets {
            let mine: Vec<&Row> = runs.iter().filter(|r| r.target == target.name).collect();
            let m = |f: &dyn Fn(&Row) -> f64| median(mine.iter().map(|r| f(r)).collect());
            rows.push(Row {
                scenario: scenario.name.to_owned(),
                target: target.name.clone(),
                conc,
                load: wrk::LoadResult {
                    rps: m(&|r| r.load.rps),
                    mbps: m(&|r| r.load.mbps),
                    p50_ms: m(&|r| r.load.p50_ms),
                    p99_ms: m(&|r| r.load.p99_ms),
                    requests: m(&|r| r.load.requests),
                    errors: m(&|r| r.load.errors),
                },
                cpu_us_per_req: m(&|r| r.cpu_us_per_req),
                peak_rss_mib: m(&|r| r.peak_rss_mib),
            });
        }
        eprintln!("bench: {} c={conc} done", scenario.name);
    }
    Ok(rows)
}

/// The table of load rows.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} | {:<15} | {:>4} | {:>9} | {:>9} | {:>8} | {:>8} | {:>11} | {:>8}",
        "scenario", "target", "conc", "req/s", "MB/s", "p50 ms", "p99 ms", "CPU us/req", "peak MiB"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<14} | {:<15} | {:>4} | {:>9.0} | {:>9.1} | {:>8.3} | {:>8.3} | {:>11.1} | {:>8.1}",
            r.scenario,
            r.target,
            r.conc,
            r.load.rps,
            r.load.mbps,
            r.load.p50_ms,
            r.load.p99_ms,
            r.cpu_us_per_req,
            r.peak_rss_mib
        );
    }
    out
}

/// The median row of `target` for a scenario and concurrency.
pub fn find<'a>(rows: &'a [Row], scenario: &str, conc: u32, target: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.scenario == scenario && r.conc == conc && r.target == target)
}

/// airlock's, nginx-default's and nginx-tuned's rows of one cell, when all three ran.
pub fn airlock_and_nginxes<'a>(
    rows: &'a [Row],
    scenario: &str,
    conc: u32,
) -> Option<(&'a Row, &'a Row, &'a Row)> {
    Some((
        find(rows, scenario, conc, "airlock")?,
        find(rows, scenario, conc, "nginx-default")?,
        find(rows, scenario, conc, "nginx-tuned")?,
    ))
}

/// The (scenario, concurrency) cells of `rows`, in order.
pub fn cells(rows: &[Row]) -> Vec<(String, u32)> {
    let mut keys: Vec<(String, u32)> = rows.iter().map(|r| (r.scenario.clone(), r.conc)).collect();
    keys.dedup();
    keys
}

/// One line comparing airlock with each peer in a cell: req/s (higher is better)
/// and CPU per request (lower is better), as ratios.
pub fn ratio_line(rows: &[Row], scenario: &str, conc: u32, peers: &[&str]) -> Option<String> {
    let a = find(rows, scenario, conc, "airlock")?;
    let mut line = format!("{scenario:<14} c={conc:<3}");
    for peer in peers {
        let p = find(rows, scenario, conc, peer)?;
        let _ = write!(
            line,
            " | vs {peer}: req/s {:.2}x, CPU/req {:.2}x",
            ratio(a.load.rps, p.load.rps),
            ratio(a.cpu_us_per_req, p.cpu_us_per_req)
        );
    }
    Some(line)
}

/// Runs a command to completion: wall seconds and its peak RSS (MiB, sampled).
///
/// The wait ends the moment the command does; the RSS is sampled on a thread
/// beside it. (Polling for the exit every 20 ms, as this did first, rounded a
/// 30 ms `airlock yum add` up to 40 or 60 ms.)
pub fn timed_command(cmd: &mut Command) -> Result<(f64, f64), String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, pid) = (done.clone(), child.id());
        std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            // The high-water mark only grows: the last sample before the exit is
            // close to the peak.
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(procs::status_kib(pid, "VmHWM:") / 1024.0);
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let status = child.wait().map_err(|e| e.to_string());
    let wall = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap_or(0.0);
    let status = status?;
    if !status.success() {
        return Err(format!("{cmd:?} failed with {status}"));
    }
    Ok((wall, peak))
}

/// One GET with curl: seconds to the first body byte and to the end.
pub fn curl_timing(url: &str) -> Result<(f64, f64), String> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{time_starttransfer} %{time_total} %{http_code}",
            url,
        ])
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        [first, whole, "200"] => match (first.parse(), whole.parse()) {
            (Ok(first), Ok(whole)) => Ok((first, whole)),
            _ => Err(format!("curl {url}: cannot read {text:?}")),
        },
        _ => Err(format!(
            "curl {url}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H%M%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "{cpus} CPUs ({model}), {} GiB, Linux {}",
        mem / (1 << 20),
        kernel.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::replace_section;

    #[test]
    fn a_section_run_replaces_only_its_own_part() {
        let doc = replace_section("# old file without markers\n", "go", "T1", "go one\n");
        assert!(doc.starts_with("# Benchmarks"));
        assert!(!doc.contains("old file"));
        let doc = replace_section(&doc, "oci", "T2", "oci one\n");
        let doc = replace_section(&doc, "go", "T3", "go two\n");
        assert!(doc.contains("go two") && !doc.contains("go one"));
        assert!(doc.contains("oci one"));
        assert_eq!(doc.matches("<!-- bench:go -->").count(), 1);
        assert!(doc.find("bench:go").unwrap_or(0) < doc.find("bench:oci").unwrap_or(0));
    }
}
