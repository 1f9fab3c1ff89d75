//! `cargo xtask bench [--quick]`: airlock against nginx on the same bytes.
//!
//! Every scenario runs each target in interleaved rounds (airlock, nginx, nginx,
//! airlock, …) and reports medians; the result is the ratio airlock/peer from the
//! same run, since absolute numbers on a shared 2-core machine are noise. Not part
//! of the test suite: nothing here asserts, it reports.

mod fixtures;
mod procs;
mod sumdb;
mod wrk;

use procs::{NginxFlavor, Server};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Plan {
    quick: bool,
    rounds: usize,
    large_secs: u32,
    small_secs: u32,
    medium_secs: u32,
    sizes: fixtures::Sizes,
}

/// One measured load run (or the median of several).
#[derive(Clone, Debug)]
struct Row {
    scenario: String,
    target: String,
    conc: u32,
    load: wrk::LoadResult,
    cpu_us_per_req: f64,
    peak_rss_mib: f64,
}

/// Cold pull-through downloads per round, each through a fresh airlock.
const PULL_THROUGH_DOWNLOADS: usize = 3;

/// A timed command (ingest, pull-through).
#[derive(Clone, Debug)]
struct Timed {
    scenario: String,
    target: String,
    seconds: f64,
    bytes: u64,
    files: u64,
    peak_rss_mib: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
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

fn check_tools() -> Result<(), String> {
    let mut missing = Vec::new();
    for (tool, package) in [
        ("wrk", "wrk"),
        ("nginx", "nginx-light"),
        ("go", "golang-go"),
        ("curl", "curl"),
        ("sha256sum", "coreutils"),
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            missing.push(package);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "missing tools; install them with: apt-get install {}",
            missing.join(" ")
        ))
    }
}

/// Entry point.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let plan = if quick {
        Plan {
            quick,
            rounds: 1,
            large_secs: 2,
            small_secs: 1,
            medium_secs: 1,
            sizes: fixtures::Sizes {
                large: 100 << 20,
                ingest_versions: 200,
                ingest_zip: 512 << 10,
                graph_modules: 50,
            },
        }
    } else {
        Plan {
            quick,
            rounds: 3,
            large_secs: 4,
            small_secs: 2,
            medium_secs: 2,
            sizes: fixtures::Sizes {
                large: 400 << 20,
                ingest_versions: 2000,
                ingest_zip: 300 << 10,
                graph_modules: 50,
            },
        }
    };
    check_tools()?;
    let started = Instant::now();
    crate::run(Command::new("cargo").current_dir(root).args([
        "build",
        "--release",
        "--locked",
        "-p",
        "airlock",
    ]))?;
    let airlock_bin = root.join("target/release/airlock");
    let work = root.join("target/bench");
    let fix = fixtures::build(
        &work.join(if quick {
            "fixtures-quick"
        } else {
            "fixtures-full"
        }),
        &plan.sizes,
    )?;
    let run_dir = work.join("run");
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
    let mut raw = String::new();

    // Scenario 4 first: its last import is the store the other scenarios serve.
    eprintln!(
        "bench: ingest ({} files, {} MB)",
        fix.files,
        fix.bytes / 1_000_000
    );
    let mut timed: Vec<Timed> = Vec::new();
    let data = run_dir.join("data");
    for round in 0..plan.rounds {
        let _ = std::fs::remove_dir_all(&data);
        let (secs, peak) = timed_command(
            Command::new(&airlock_bin)
                .args(["import", "gomodcache"])
                .arg(&fix.tree)
                .arg("--data-dir")
                .arg(&data)
                // The fixture has no checksum database: nothing to verify against.
                .env("AIRLOCK_GO__SUMDB", "[]"),
        )?;
        timed.push(Timed {
            scenario: "ingest".into(),
            target: "airlock".into(),
            seconds: secs,
            bytes: fix.bytes,
            files: fix.files,
            peak_rss_mib: peak,
        });
        let copy = run_dir.join("copy");
        let _ = std::fs::remove_dir_all(&copy);
        let script = format!(
            "find '{t}' -type f -print0 | xargs -0 sha256sum > /dev/null && cp -r '{t}' '{c}'",
            t = fix.tree.display(),
            c = copy.display()
        );
        let (secs, _) = timed_command(Command::new("sh").arg("-c").arg(script))?;
        let _ = std::fs::remove_dir_all(&copy);
        timed.push(Timed {
            scenario: "ingest".into(),
            target: "sha256sum+cp".into(),
            seconds: secs,
            bytes: fix.bytes,
            files: fix.files,
            peak_rss_mib: 0.0,
        });
        eprintln!("bench: ingest round {} done", round + 1);
    }

    let log = run_dir.join("airlock.log");
    let airlock = procs::airlock(&airlock_bin, &data, &["--mode", "offline"], &[], &log)?;
    std::thread::sleep(Duration::from_millis(300));
    let idle_rss = airlock.rss_mib();
    let nginx_default = procs::nginx(
        NginxFlavor::Default,
        &fix.tree,
        &run_dir.join("nginx-default"),
        procs::free_port()?,
    )?;
    let nginx_tuned = procs::nginx(
        NginxFlavor::Tuned,
        &fix.tree,
        &run_dir.join("nginx-tuned"),
        procs::free_port()?,
    )?;
    let targets: [&Server; 3] = [&airlock, &nginx_default, &nginx_tuned];

    let many = fixtures::MANY;
    let scenarios: Vec<(&str, String, Vec<u32>, u32)> = vec![
        (
            "large-zip",
            format!("/go/{}/@v/v1.0.0.zip", fixtures::LARGE),
            vec![1, 4],
            plan.large_secs,
        ),
        (
            "info",
            format!("/go/{many}/@v/v1.50.0.info"),
            vec![1, 16, 64],
            plan.small_secs,
        ),
        (
            "mod",
            format!("/go/{many}/@v/v1.50.0.mod"),
            vec![1, 16, 64],
            plan.small_secs,
        ),
        (
            "list-100",
            format!("/go/{many}/@v/list"),
            vec![1, 16, 64],
            plan.small_secs,
        ),
        (
            "latest",
            format!("/go/{many}/@latest"),
            vec![1, 16, 64],
            plan.small_secs,
        ),
        (
            "5mb-zip",
            format!("/go/{}/@v/v1.0.0.zip", fixtures::MEDIUM),
            vec![1, 16],
            plan.medium_secs,
        ),
    ];
    let mut rows: Vec<Row> = Vec::new();
    for (scenario, path, concs, secs) in &scenarios {
        for &conc in concs {
            let mut runs: Vec<Row> = Vec::new();
            for round in 0..plan.rounds {
                // Alternate the order so no target always runs first.
                let order: Vec<&Server> = if round % 2 == 0 {
                    targets.to_vec()
                } else {
                    targets.iter().rev().copied().collect()
                };
                for target in order {
                    target.reset_peak();
                    let cpu = target.cpu_seconds();
                    let load = wrk::run(&format!("{}{path}", target.base), conc, *secs)?;
                    let cpu = target.cpu_seconds() - cpu;
                    let row = Row {
                        scenario: scenario.to_string(),
                        target: target.name.clone(),
                        conc,
                        cpu_us_per_req: if load.requests > 0.0 {
                            cpu * 1e6 / load.requests
                        } else {
                            0.0
                        },
                        peak_rss_mib: target.peak_rss_mib(),
                        load,
                    };
                    if row.load.errors > 0.0 {
                        eprintln!(
                            "bench: {} {scenario} c={conc}: {} errors",
                            row.target, row.load.errors
                        );
                    }
                    raw.push_str(&json_row(&row, round));
                    runs.push(row);
                }
            }
            for target in &targets {
                let mine: Vec<&Row> = runs.iter().filter(|r| r.target == target.name).collect();
                let m = |f: &dyn Fn(&Row) -> f64| median(mine.iter().map(|r| f(r)).collect());
                rows.push(Row {
                    scenario: scenario.to_string(),
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
            eprintln!("bench: {scenario} c={conc} done");
        }
    }
    drop(airlock);
    drop(nginx_default);

    // Scenario 5: cold pull-through, airlock online in front of nginx vs nginx direct:
    // the module graph with go (a download takes a tenth of a second, so each round
    // has several, each through a fresh airlock, for a steadier median), then the
    // large zip with curl (first byte and whole).
    // airlock verifies every module file against the fixtures' checksum database,
    // served by the same nginx (the direct client has GOSUMDB=off).
    let upstream = format!("{}/go", nginx_tuned.base);
    let sumdb = format!(
        "[{{name=\"{name}\",url=\"{upstream}/sumdb/{name}\",key=\"{key}\"}}]",
        name = sumdb::NAME,
        key = fix.sumdb_key
    );
    let online_airlock = |data: &Path, log: &str| {
        let _ = std::fs::remove_dir_all(data);
        procs::airlock(
            &airlock_bin,
            data,
            &[],
            &[
                ("AIRLOCK_GO__UPSTREAM", &upstream),
                ("AIRLOCK_GO__SUMDB", &sumdb),
            ],
            &run_dir.join(log),
        )
    };
    for round in 0..plan.rounds {
        for _ in 0..PULL_THROUGH_DOWNLOADS {
            let online = online_airlock(&run_dir.join("pull-data"), "pull-airlock.log")?;
            let via_airlock = go_download(
                &fix.app,
                &run_dir.join("gopath-a"),
                &format!("{}/go", online.base),
            )?;
            drop(online);
            let direct = go_download(&fix.app, &run_dir.join("gopath-d"), &upstream)?;
            for (target, seconds) in [("airlock", via_airlock), ("nginx-tuned", direct)] {
                timed.push(Timed {
                    scenario: "pull-through".into(),
                    target: target.into(),
                    seconds,
                    bytes: 0,
                    files: plan.sizes.graph_modules as u64,
                    peak_rss_mib: 0.0,
                });
            }
        }
        // The large zip is not in the graph: cold in a fresh airlock.
        let online = online_airlock(&run_dir.join("zip-data"), "zip-airlock.log")?;
        let large_zip = format!("go/{}/@v/v1.0.0.zip", fixtures::LARGE);
        let zip_via_airlock = curl_timing(&format!("{}/{large_zip}", online.base))?;
        drop(online);
        let zip_direct = curl_timing(&format!("{}/{large_zip}", nginx_tuned.base))?;
        for (target, (first_byte, whole)) in
            [("airlock", zip_via_airlock), ("nginx-tuned", zip_direct)]
        {
            for (scenario, seconds) in [("cold-zip-first-byte", first_byte), ("cold-zip", whole)] {
                timed.push(Timed {
                    scenario: scenario.into(),
                    target: target.into(),
                    seconds,
                    bytes: plan.sizes.large as u64,
                    files: 1,
                    peak_rss_mib: 0.0,
                });
            }
        }
        eprintln!("bench: pull-through round {} done", round + 1);
    }
    drop(nginx_tuned);

    for t in &timed {
        raw.push_str(&format!(
            "{{\"scenario\":\"{}\",\"target\":\"{}\",\"seconds\":{:.4},\"bytes\":{},\"files\":{},\"peak_rss_mib\":{:.1}}}\n",
            t.scenario, t.target, t.seconds, t.bytes, t.files, t.peak_rss_mib
        ));
    }
    let report = report(&plan, &rows, &timed, idle_rss, started.elapsed());
    println!("{report}");
    let stamp = utc_now();
    std::fs::write(work.join(format!("results-{stamp}.jsonl")), &raw).map_err(|e| e.to_string())?;
    if !plan.quick {
        let doc = format!(
            "# Benchmarks\n\nWritten by `cargo xtask bench` (the full run); raw results are in \
             `target/bench/results-*.jsonl`. Read the ratios, not the absolute numbers: the machine \
             is shared and small.\n\n- Date: {stamp}\n- Machine: {}\n\n```text\n{report}```\n",
            machine()
        );
        std::fs::write(root.join("docs/benchmarks.md"), doc).map_err(|e| e.to_string())?;
        eprintln!("bench: docs/benchmarks.md updated");
    }
    Ok(())
}

/// Runs a command to completion: wall seconds and its peak RSS (MiB, sampled).
fn timed_command(cmd: &mut Command) -> Result<(f64, f64), String> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let mut peak: f64 = 0.0;
    loop {
        peak = peak.max(procs::status_kib(child.id(), "VmHWM:") / 1024.0);
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if !status.success() {
                return Err(format!("{cmd:?} failed with {status}"));
            }
            return Ok((start.elapsed().as_secs_f64(), peak));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One GET with curl: seconds to the first body byte and to the end.
fn curl_timing(url: &str) -> Result<(f64, f64), String> {
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

/// `go mod download` of the graph with a fresh module cache; wall seconds.
fn go_download(app: &Path, gopath: &Path, goproxy: &str) -> Result<f64, String> {
    let _ = Command::new("chmod")
        .arg("-R")
        .arg("u+w")
        .arg(gopath)
        .status();
    let _ = std::fs::remove_dir_all(gopath);
    let (secs, _) = timed_command(
        Command::new("go")
            .args(["mod", "download"])
            .current_dir(app)
            .env("GOPATH", gopath)
            .env("GOMODCACHE", gopath.join("pkg/mod"))
            .env("GOFLAGS", "-mod=mod -modcacherw")
            .env("GOPROXY", goproxy)
            .env("GOSUMDB", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GOENV", "off"),
    )?;
    Ok(secs)
}

fn json_row(r: &Row, round: usize) -> String {
    format!(
        "{{\"scenario\":\"{}\",\"target\":\"{}\",\"conc\":{},\"round\":{round},\"rps\":{:.1},\"mbps\":{:.2},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"requests\":{},\"errors\":{},\"cpu_us_per_req\":{:.2},\"peak_rss_mib\":{:.1}}}\n",
        r.scenario, r.target, r.conc, r.load.rps, r.load.mbps, r.load.p50_ms, r.load.p99_ms, r.load.requests, r.load.errors, r.cpu_us_per_req, r.peak_rss_mib
    )
}

fn report(plan: &Plan, rows: &[Row], timed: &[Timed], idle_rss: f64, took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} | {:<13} | {:>4} | {:>9} | {:>9} | {:>8} | {:>8} | {:>11} | {:>8}",
        "scenario", "target", "conc", "req/s", "MB/s", "p50 ms", "p99 ms", "CPU us/req", "peak MiB"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<12} | {:<13} | {:>4} | {:>9.0} | {:>9.1} | {:>8.3} | {:>8.3} | {:>11.1} | {:>8.1}",
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
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "ratios airlock/peer (same run; req/s and MB/s: higher is better, CPU: lower is better)"
    );
    let mut checks: Vec<(String, bool)> = Vec::new();
    let mut keys: Vec<(String, u32)> = rows.iter().map(|r| (r.scenario.clone(), r.conc)).collect();
    keys.dedup();
    for (scenario, conc) in &keys {
        let find = |t: &str| {
            rows.iter()
                .find(|r| &r.scenario == scenario && r.conc == *conc && r.target == t)
        };
        let (Some(a), Some(d), Some(t)) =
            (find("airlock"), find("nginx-default"), find("nginx-tuned"))
        else {
            continue;
        };
        let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { 0.0 };
        let _ = writeln!(
            out,
            "{scenario:<12} c={conc:<3} req/s {:.2}x default, {:.2}x tuned | CPU/req {:.2}x default, {:.2}x tuned",
            ratio(a.load.rps, d.load.rps),
            ratio(a.load.rps, t.load.rps),
            ratio(a.cpu_us_per_req, d.cpu_us_per_req),
            ratio(a.cpu_us_per_req, t.cpu_us_per_req),
        );
        let best = if d.load.rps >= t.load.rps { d } else { t };
        if scenario == "large-zip" {
            let best = if d.load.mbps >= t.load.mbps { d } else { t };
            checks.push((
                format!(
                    "large-zip c={conc}: MB/s >= 0.9x faster nginx ({:.2}x)",
                    ratio(a.load.mbps, best.load.mbps)
                ),
                a.load.mbps >= 0.9 * best.load.mbps,
            ));
            checks.push((
                format!(
                    "large-zip c={conc}: CPU per GB <= faster nginx's ({:.2}x)",
                    ratio(a.cpu_us_per_req, best.cpu_us_per_req)
                ),
                a.cpu_us_per_req <= best.cpu_us_per_req,
            ));
        } else if scenario != "5mb-zip" {
            checks.push((
                format!(
                    "{scenario} c={conc}: req/s >= 0.5x nginx ({:.2}x)",
                    ratio(a.load.rps, best.load.rps)
                ),
                a.load.rps >= 0.5 * best.load.rps,
            ));
            if *conc == 64 {
                checks.push((
                    format!("{scenario} c=64: p99 <= 5 ms ({:.2} ms)", a.load.p99_ms),
                    a.load.p99_ms <= 5.0,
                ));
            }
        }
    }
    let _ = writeln!(out);
    let secs = |scenario: &str, target: &str| {
        median(
            timed
                .iter()
                .filter(|t| t.scenario == scenario && t.target == target)
                .map(|t| t.seconds)
                .collect(),
        )
    };
    let bytes = timed
        .iter()
        .find(|t| t.scenario == "ingest")
        .map(|t| t.bytes)
        .unwrap_or(0) as f64;
    let files = timed
        .iter()
        .find(|t| t.scenario == "ingest")
        .map(|t| t.files)
        .unwrap_or(0) as f64;
    let (ingest, floor) = (secs("ingest", "airlock"), secs("ingest", "sha256sum+cp"));
    let _ = writeln!(
        out,
        "ingest: airlock {:.0} MB/s, {:.0} files/s; sha256sum+cp floor {:.0} MB/s, {:.0} files/s; ratio {:.2}x",
        bytes / 1e6 / ingest,
        files / ingest,
        bytes / 1e6 / floor,
        files / floor,
        floor / ingest
    );
    checks.push((
        format!(
            "ingest >= 0.8x the sha256sum+cp floor ({:.2}x)",
            floor / ingest
        ),
        floor / ingest >= 0.8,
    ));
    let (pa, pd) = (
        secs("pull-through", "airlock"),
        secs("pull-through", "nginx-tuned"),
    );
    let _ = writeln!(
        out,
        "pull-through: go mod download of {} modules: via airlock (verifying each against the checksum database) {:.2}s, direct from nginx {:.2}s; ratio {:.2}x",
        plan.sizes.graph_modules,
        pa,
        pd,
        pa / pd
    );
    checks.push((
        format!("cold pull-through <= 1.5x direct ({:.2}x)", pa / pd),
        pa / pd <= 1.5,
    ));
    let (za, zd) = (secs("cold-zip", "airlock"), secs("cold-zip", "nginx-tuned"));
    let _ = writeln!(
        out,
        "cold large zip ({} MiB, online, upstream nginx): via airlock first byte {:.1} ms, whole {:.2}s; direct first byte {:.1} ms, whole {:.2}s; ratio {:.2}x",
        plan.sizes.large >> 20,
        secs("cold-zip-first-byte", "airlock") * 1e3,
        za,
        secs("cold-zip-first-byte", "nginx-tuned") * 1e3,
        zd,
        za / zd
    );
    let peak_stream = rows
        .iter()
        .filter(|r| r.target == "airlock" && r.scenario == "large-zip")
        .map(|r| r.peak_rss_mib)
        .fold(0.0, f64::max);
    let peak_ingest = median(
        timed
            .iter()
            .filter(|t| t.scenario == "ingest" && t.target == "airlock")
            .map(|t| t.peak_rss_mib)
            .collect(),
    );
    let _ = writeln!(
        out,
        "memory: airlock idle RSS {idle_rss:.1} MiB; peak while streaming the large zip {peak_stream:.1} MiB; import peak {peak_ingest:.1} MiB"
    );
    checks.push((
        format!("idle RSS <= 32 MiB ({idle_rss:.1})"),
        idle_rss <= 32.0,
    ));
    checks.push((
        format!(
            "RSS growth while streaming <= 16 MiB ({:.1})",
            peak_stream - idle_rss
        ),
        peak_stream - idle_rss <= 16.0,
    ));
    let _ = writeln!(out);
    for (what, ok) in checks {
        let _ = writeln!(out, "{} {what}", if ok { "PASS" } else { "MISS" });
    }
    let _ = writeln!(
        out,
        "\n({} rounds per cell, run took {:.0}s)",
        plan.rounds,
        took.as_secs_f64()
    );
    out
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
