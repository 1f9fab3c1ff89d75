//! The Go section: airlock against nginx serving the same GOPROXY tree.
//!
//! Ingest (`airlock import gomodcache` against a sha256sum+cp floor), small and
//! large GETs against two nginx configurations, and the cold pull-through of a
//! module graph and of a large zip (airlock online in front of nginx, verifying
//! against the fixtures' checksum database, against nginx direct).

mod fixtures;
mod sumdb;

use super::procs::{self, NginxFlavor, Server};
use super::{
    cells, measure, median, median_secs, ratio, ratio_line, require_tools, table, timed_command,
    Check, Ctx, Row, Scenario, Section, Timed,
};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Cold pull-through downloads per round, each through a fresh airlock.
const PULL_THROUGH_DOWNLOADS: usize = 3;

/// The nginx configurations airlock is compared with.
const PEERS: &[&str] = &["nginx-default", "nginx-tuned"];

/// Entry point of the section.
pub fn run(ctx: &Ctx) -> Result<Section, String> {
    require_tools(&[("go", "golang-go"), ("sha256sum", "coreutils")])?;
    let sizes = if ctx.quick {
        fixtures::Sizes {
            large: 100 << 20,
            ingest_versions: 200,
            ingest_zip: 512 << 10,
            graph_modules: 50,
        }
    } else {
        fixtures::Sizes {
            large: 400 << 20,
            ingest_versions: 2000,
            ingest_zip: 300 << 10,
            graph_modules: 50,
        }
    };
    let fix = fixtures::build(
        &ctx.work.join(if ctx.quick {
            "fixtures-quick"
        } else {
            "fixtures-full"
        }),
        &sizes,
    )?;
    let run_dir = ctx.work.join("run");
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
    let mut raw = String::new();
    let mut timed: Vec<Timed> = Vec::new();

    // Ingest first: its last import is the store the load scenarios serve.
    eprintln!(
        "bench: ingest ({} files, {} MB)",
        fix.files,
        fix.bytes / 1_000_000
    );
    let data = run_dir.join("data");
    for round in 0..ctx.rounds {
        let _ = std::fs::remove_dir_all(&data);
        let (secs, peak) = timed_command(
            Command::new(&ctx.airlock_bin)
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

    let airlock = procs::airlock(
        &ctx.airlock_bin,
        &data,
        &["--mode", "offline"],
        &[],
        &run_dir.join("airlock.log"),
    )?;
    std::thread::sleep(Duration::from_millis(300));
    let idle_rss = airlock.rss_mib();
    let nginx_default = procs::nginx(
        NginxFlavor::Default,
        &[("/go/", &fix.tree)],
        &run_dir.join("nginx-default"),
        procs::free_port()?,
    )?;
    let nginx_tuned = procs::nginx(
        NginxFlavor::Tuned,
        &[("/go/", &fix.tree)],
        &run_dir.join("nginx-tuned"),
        procs::free_port()?,
    )?;
    let targets: [&Server; 3] = [&airlock, &nginx_default, &nginx_tuned];

    let many = fixtures::MANY;
    let paths = [
        format!("/go/{}/@v/v1.0.0.zip", fixtures::LARGE),
        format!("/go/{many}/@v/v1.50.0.info"),
        format!("/go/{many}/@v/v1.50.0.mod"),
        format!("/go/{many}/@v/list"),
        format!("/go/{many}/@latest"),
        format!("/go/{}/@v/v1.0.0.zip", fixtures::MEDIUM),
    ];
    let small: &[u32] = &[1, 16, 64];
    let scenarios = [
        Scenario {
            name: "large-zip",
            path: &paths[0],
            concs: &[1, 4],
            secs: ctx.large_secs,
        },
        Scenario {
            name: "info",
            path: &paths[1],
            concs: small,
            secs: ctx.small_secs,
        },
        Scenario {
            name: "mod",
            path: &paths[2],
            concs: small,
            secs: ctx.small_secs,
        },
        Scenario {
            name: "list-100",
            path: &paths[3],
            concs: small,
            secs: ctx.small_secs,
        },
        Scenario {
            name: "latest",
            path: &paths[4],
            concs: small,
            secs: ctx.small_secs,
        },
        Scenario {
            name: "5mb-zip",
            path: &paths[5],
            concs: &[1, 16],
            secs: ctx.medium_secs,
        },
    ];
    let mut rows: Vec<Row> = Vec::new();
    for scenario in &scenarios {
        rows.extend(measure(ctx, &targets, scenario, &mut raw)?);
    }
    drop(airlock);
    drop(nginx_default);

    // Cold pull-through, airlock online in front of nginx vs nginx direct: the
    // module graph with go (a download takes a tenth of a second, so each round
    // has several, each through a fresh airlock, for a steadier median), then the
    // large zip with curl (first byte and whole). airlock verifies every module
    // file against the fixtures' checksum database, served by the same nginx (the
    // direct client has GOSUMDB=off).
    let upstream = format!("{}/go", nginx_tuned.base);
    let sumdb = format!(
        "[{{name=\"{name}\",url=\"{upstream}/sumdb/{name}\",key=\"{key}\"}}]",
        name = sumdb::NAME,
        key = fix.sumdb_key
    );
    let online_airlock = |data: &Path, log: &str| {
        let _ = std::fs::remove_dir_all(data);
        procs::airlock(
            &ctx.airlock_bin,
            data,
            &[],
            &[
                ("AIRLOCK_GO__UPSTREAM", &upstream),
                ("AIRLOCK_GO__SUMDB", &sumdb),
            ],
            &run_dir.join(log),
        )
    };
    for round in 0..ctx.rounds {
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
                    files: sizes.graph_modules as u64,
                    peak_rss_mib: 0.0,
                });
            }
        }
        // The large zip is not in the graph: cold in a fresh airlock.
        let online = online_airlock(&run_dir.join("zip-data"), "zip-airlock.log")?;
        let large_zip = format!("go/{}/@v/v1.0.0.zip", fixtures::LARGE);
        let zip_via_airlock = super::curl_timing(&format!("{}/{large_zip}", online.base))?;
        drop(online);
        let zip_direct = super::curl_timing(&format!("{}/{large_zip}", nginx_tuned.base))?;
        for (target, (first_byte, whole)) in
            [("airlock", zip_via_airlock), ("nginx-tuned", zip_direct)]
        {
            for (scenario, seconds) in [("cold-zip-first-byte", first_byte), ("cold-zip", whole)] {
                timed.push(Timed {
                    scenario: scenario.into(),
                    target: target.into(),
                    seconds,
                    bytes: sizes.large as u64,
                    files: 1,
                    peak_rss_mib: 0.0,
                });
            }
        }
        eprintln!("bench: pull-through round {} done", round + 1);
    }
    drop(nginx_tuned);

    for t in &timed {
        raw.push_str(&t.json());
    }
    let (report, checks) = report(&sizes, &rows, &timed, idle_rss);
    Ok(Section {
        report,
        checks,
        raw,
    })
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

/// The section's text and its checks against issues 9 and 18.
fn report(
    sizes: &fixtures::Sizes,
    rows: &[Row],
    timed: &[Timed],
    idle_rss: f64,
) -> (String, Vec<Check>) {
    let mut out = table(rows);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "ratios airlock/peer (same run; req/s: higher is better, CPU: lower is better)"
    );
    let mut checks: Vec<Check> = Vec::new();
    for (scenario, conc) in cells(rows) {
        if let Some(line) = ratio_line(rows, &scenario, conc, PEERS) {
            let _ = writeln!(out, "{line}");
        }
        let Some((a, d, t)) = super::airlock_and_nginxes(rows, &scenario, conc) else {
            continue;
        };
        match scenario.as_str() {
            "large-zip" => {
                let best = if d.load.mbps >= t.load.mbps { d } else { t };
                checks.push(Check::new(
                    format!(
                        "large-zip c={conc}: MB/s >= 0.9x faster nginx ({:.2}x)",
                        ratio(a.load.mbps, best.load.mbps)
                    ),
                    a.load.mbps >= 0.9 * best.load.mbps,
                ));
                checks.push(Check::new(
                    format!(
                        "large-zip c={conc}: CPU per GB <= faster nginx's ({:.2}x)",
                        ratio(a.cpu_us_per_req, best.cpu_us_per_req)
                    ),
                    a.cpu_us_per_req <= best.cpu_us_per_req,
                ));
            }
            "5mb-zip" => {}
            _ => {
                // Issue 18: small GETs against the tuned nginx.
                checks.push(Check::new(
                    format!(
                        "{scenario} c={conc}: req/s >= 0.8x nginx-tuned ({:.2}x)",
                        ratio(a.load.rps, t.load.rps)
                    ),
                    a.load.rps >= 0.8 * t.load.rps,
                ));
                checks.push(Check::new(
                    format!(
                        "{scenario} c={conc}: CPU/req <= 1.3x nginx-tuned ({:.2}x)",
                        ratio(a.cpu_us_per_req, t.cpu_us_per_req)
                    ),
                    a.cpu_us_per_req <= 1.3 * t.cpu_us_per_req,
                ));
                if conc == 64 {
                    checks.push(Check::new(
                        format!("{scenario} c=64: p99 <= 5 ms ({:.2} ms)", a.load.p99_ms),
                        a.load.p99_ms <= 5.0,
                    ));
                }
            }
        }
    }
    let _ = writeln!(out);
    let secs = |scenario: &str, target: &str| median_secs(timed, scenario, target);
    let ingest_row = timed.iter().find(|t| t.scenario == "ingest");
    let bytes = ingest_row.map(|t| t.bytes).unwrap_or(0) as f64;
    let files = ingest_row.map(|t| t.files).unwrap_or(0) as f64;
    let (ingest, floor) = (secs("ingest", "airlock"), secs("ingest", "sha256sum+cp"));
    let _ = writeln!(
        out,
        "ingest: airlock {:.0} MB/s, {:.0} files/s; sha256sum+cp floor {:.0} MB/s, {:.0} files/s; ratio {:.2}x",
        bytes / 1e6 / ingest,
        files / ingest,
        bytes / 1e6 / floor,
        files / floor,
        ratio(floor, ingest)
    );
    checks.push(Check::new(
        format!(
            "ingest >= 0.8x the sha256sum+cp floor ({:.2}x)",
            ratio(floor, ingest)
        ),
        ratio(floor, ingest) >= 0.8,
    ));
    let (pa, pd) = (
        secs("pull-through", "airlock"),
        secs("pull-through", "nginx-tuned"),
    );
    let _ = writeln!(
        out,
        "pull-through: go mod download of {} modules: via airlock (verifying each against the checksum database) {:.2}s, direct from nginx {:.2}s; ratio {:.2}x",
        sizes.graph_modules,
        pa,
        pd,
        ratio(pa, pd)
    );
    checks.push(Check::new(
        format!("cold pull-through <= 1.5x direct ({:.2}x)", ratio(pa, pd)),
        ratio(pa, pd) <= 1.5,
    ));
    let (za, zd) = (secs("cold-zip", "airlock"), secs("cold-zip", "nginx-tuned"));
    let _ = writeln!(
        out,
        "cold large zip ({} MiB, online, upstream nginx): via airlock first byte {:.1} ms, whole {:.2}s; direct first byte {:.1} ms, whole {:.2}s; ratio {:.2}x",
        sizes.large >> 20,
        secs("cold-zip-first-byte", "airlock") * 1e3,
        za,
        secs("cold-zip-first-byte", "nginx-tuned") * 1e3,
        zd,
        ratio(za, zd)
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
    checks.push(Check::new(
        format!("idle RSS <= 32 MiB ({idle_rss:.1})"),
        idle_rss <= 32.0,
    ));
    checks.push(Check::new(
        format!(
            "RSS growth while streaming <= 16 MiB ({:.1})",
            peak_stream - idle_rss
        ),
        peak_stream - idle_rss <= 16.0,
    ));
    (out, checks)
}
