//! `cargo xtask bench yum`: issue 17's speed targets for YUM repositories,
//! airlock against the tools it replaces, on the same RPMs in one run.
//!
//! 1. Repodata: `airlock yum add` of the fixture set into a fresh data
//!    directory (storing every RPM, then publishing) against `createrepo_c`
//!    on a directory of the same files; then one more RPM: airlock's
//!    incremental republish (a new `airlock yum add` process, and a `PUT` to a
//!    running server) against a full `createrepo_c` run and `--update`.
//!    Beside each, the floor under it: copying the RPMs into a directory and
//!    syncing it (storing alone, which createrepo_c never does), and a new
//!    `airlock yum add` process that finds the RPM stored and has nothing to do.
//! 2. `repomd.xml` and the 5 MB RPM over HTTP, airlock against nginx serving
//!    createrepo_c's tree, at several concurrencies.
//! 3. A mirror of that tree from nginx: `airlock sync yum` against
//!    `dnf reposync --download-metadata`.
//! 4. Memory: idle RSS and peak RSS during the GETs.
//!
//! Fixture RPMs are built once by `rpmbuild` ([`fixtures`]).

mod fixtures;

use super::procs::{self, NginxFlavor, Server};
use super::{
    cells, measure, median_secs, ratio, ratio_line, require_tools, table, timed_command, Check,
    Ctx, Row, Scenario, Section, Timed,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// PUT/DELETE pairs per round of the add-one through a server. A pair takes
/// some 30 ms; a median of 3 samples of 10-15 ms moved by a fifth between runs
/// on this 2-core machine.
const PUTS_PER_ROUND: usize = 5;

/// The hosted repository the bench fills.
const REPO: &str = "bench";
/// The mirror of the tree nginx serves.
const MIRROR: &str = "mirror";
/// The writer that uploads with `PUT`.
const USER: &str = "bench";
const PASSWORD: &str = "bench-upload";

/// Fixture packages in the set: the issue's 500, fewer with `--quick`.
fn set_size(ctx: &Ctx) -> usize {
    if ctx.quick {
        100
    } else {
        500
    }
}

/// The nginx configurations airlock is compared with.
const PEERS: &[&str] = &["nginx-default", "nginx-tuned"];

/// Entry point of the section.
pub fn run(ctx: &Ctx) -> Result<Section, String> {
    require_tools(&[
        ("rpmbuild", "rpm"),
        ("createrepo_c", "createrepo-c"),
        ("dnf", "dnf dnf-plugins-core"),
    ])?;
    let count = set_size(ctx);
    let rpms = fixtures::build(
        &ctx.work.join(if ctx.quick {
            "fixtures-quick"
        } else {
            "fixtures-full"
        }),
        count,
    )?;
    let run_dir = ctx.work.join("run");
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).map_err(io)?;
    let config = write_config(ctx, &run_dir)?;
    let tree = run_dir.join("tree");
    link_tree(&tree, &rpms.set)?;

    let mut raw = String::new();
    let mut samples: Vec<Timed> = Vec::new();
    // Every round gets data directories of its own, and none is deleted
    // before the end of the section: on ext4 without a journal (this
    // machine's), a file created within a minute of many deletions in the
    // same block group waits while the allocator skips every recently freed
    // inode (`recently_deleted`). Deleting the 800 files of the previous
    // round's store made creating the next one's cost 0.5-1 s more, which
    // measured the filesystem, not the tools (createrepo_c creates 4 files).
    let data_of = |round: usize| run_dir.join(format!("data-{round}"));
    let data = data_of(ctx.rounds - 1);

    // 1a. The whole set, from nothing to published repodata.
    for round in 0..ctx.rounds {
        for airlock_turn in turns(round) {
            if airlock_turn {
                let (wall, peak) = yum_add(ctx, &config, &data_of(round), &rpms.set)?;
                samples.push(Timed {
                    peak_rss_mib: peak,
                    ..sample("full", "airlock yum add", wall)
                });
            } else {
                for (target, args) in [
                    ("createrepo_c --no-database", &["--no-database"][..]),
                    ("createrepo_c", &[][..]),
                ] {
                    let _ = std::fs::remove_dir_all(tree.join("repodata"));
                    samples.push(sample("full", target, createrepo(&tree, args)?));
                }
                let served = run_dir.join(format!("served-{round}"));
                samples.push(sample(
                    "full",
                    "cp + sync + createrepo_c",
                    copy_and_createrepo(&served, &rpms.set)?,
                ));
                let copied = run_dir.join(format!("copied-{round}"));
                samples.push(sample(
                    "full",
                    "cp + sync",
                    copy_and_sync(&copied, &rpms.set)?,
                ));
            }
        }
        eprintln!("bench: yum: repodata round {} done", round + 1);
    }
    // The tree nginx serves (and airlock syncs): createrepo_c's output
    // without the sqlite databases dnf never reads.
    let _ = std::fs::remove_dir_all(tree.join("repodata"));
    createrepo(&tree, &["--no-database"])?;

    // 1b. One more RPM, into the published set.
    let tree_inc = run_dir.join("tree-inc");
    for round in 0..ctx.rounds {
        for airlock_turn in turns(round) {
            if airlock_turn {
                let data_inc = run_dir.join(format!("data-inc-{round}"));
                copy_dir(&data, &data_inc)?;
                let extra = std::slice::from_ref(&rpms.extra);
                let (wall, _) = yum_add(ctx, &config, &data_inc, extra)?;
                samples.push(sample("add-one", "airlock yum add", wall));
                // The floor of a new process: the same command again, which
                // opens the index, copies and reads the RPM, finds it stored
                // and neither stores nor publishes anything.
                let (wall, _) = yum_add(ctx, &config, &data_inc, extra)?;
                samples.push(sample("add-one", "airlock yum add, nothing to do", wall));
            } else {
                link_tree(&tree_inc, &rpms.set)?;
                link_tree(&tree_inc, std::slice::from_ref(&rpms.extra))?;
                copy_dir(&tree.join("repodata"), &tree_inc.join("repodata"))?;
                samples.push(sample(
                    "add-one",
                    "createrepo_c --update",
                    createrepo(&tree_inc, &["--no-database", "--update"])?,
                ));
                let _ = std::fs::remove_dir_all(tree_inc.join("repodata"));
                samples.push(sample(
                    "add-one",
                    "createrepo_c --no-database",
                    createrepo(&tree_inc, &["--no-database"])?,
                ));
            }
        }
    }

    // 1c. The same through a running server: PUT the RPM (the response comes
    // after the publish), then DELETE it again (untimed), PUTS_PER_ROUND
    // times per round.
    let log = run_dir.join("airlock.log");
    let airlock = procs::airlock(
        &ctx.airlock_bin,
        &data,
        &["--mode", "offline"],
        &[("AIRLOCK_CONFIG", &config.display().to_string())],
        &log,
    )?;
    std::thread::sleep(Duration::from_millis(500));
    let idle_rss = airlock.rss_mib();
    let extra_url = format!("{}/yum/{REPO}/{}", airlock.base, file_name(&rpms.extra));
    for _ in 0..ctx.rounds * PUTS_PER_ROUND {
        settle()?;
        let wall = curl_write(&["-T", &rpms.extra.display().to_string()], &extra_url, 201)?;
        samples.push(sample("add-one", "airlock PUT", wall));
        // The log is written a moment after the response.
        std::thread::sleep(Duration::from_millis(50));
        samples.push(sample(
            "add-one",
            "airlock publish",
            last_publish_ms(&log)? / 1e3,
        ));
        curl_write(&["-X", "DELETE"], &extra_url, 200)?;
        std::thread::sleep(Duration::from_millis(50));
        samples.push(sample(
            "full",
            "airlock publish",
            last_publish_ms(&log)? / 1e3,
        ));
    }

    // 2. GETs against nginx serving createrepo_c's tree at the same paths.
    let location = format!("/yum/{REPO}/");
    let prefix = run_dir.join("nginx");
    let nginx_default = procs::nginx(
        NginxFlavor::Default,
        &[(location.as_str(), tree.as_path())],
        &prefix.join("default"),
        procs::free_port()?,
    )?;
    let nginx_tuned = procs::nginx(
        NginxFlavor::Tuned,
        &[(location.as_str(), tree.as_path())],
        &prefix.join("tuned"),
        procs::free_port()?,
    )?;
    let nginx_idle = nginx_default.rss_mib();
    // What the PUTs and DELETEs (each a publish) left resident, before any GET.
    let before_gets_rss = airlock.rss_mib();
    let targets: [&Server; 3] = [&airlock, &nginx_default, &nginx_tuned];
    let mut rows: Vec<Row> = Vec::new();
    let repomd = format!("/yum/{REPO}/repodata/repomd.xml");
    let big = format!("/yum/{REPO}/{}", rpms.big_name);
    for scenario in [
        Scenario {
            name: "repomd.xml",
            path: &repomd,
            concs: &[1, 16, 64],
            secs: ctx.small_secs,
        },
        Scenario {
            name: "rpm-5mb",
            path: &big,
            concs: &[1, 16, 64],
            secs: ctx.medium_secs,
        },
    ] {
        rows.extend(measure(ctx, &targets, &scenario, &mut raw)?);
    }
    drop(airlock);
    drop(nginx_default);

    // 3. A mirror of the tree nginx serves: `airlock sync yum` against
    // `dnf reposync --download-metadata`, each into nothing.
    let upstream = format!("{}/yum/{REPO}/", nginx_tuned.base);
    let mirror_config = run_dir.join("mirror.toml");
    std::fs::write(
        &mirror_config,
        format!(
            "[yum]\n[[yum.repositories]]\nname = \"{MIRROR}\"\nkind = \"mirror\"\nupstream = \"{upstream}\"\n"
        ),
    )
    .map_err(io)?;
    let sync_data = run_dir.join("sync-data");
    let dnf_dir = run_dir.join("dnf");
    for round in 0..ctx.rounds {
        for airlock_turn in turns(round) {
            let (target, (wall, peak)) = if airlock_turn {
                let _ = std::fs::remove_dir_all(&sync_data);
                let mut sync = Command::new(&ctx.airlock_bin);
                sync.args(["sync", "yum", MIRROR, "-c"])
                    .arg(&mirror_config)
                    .arg("--data-dir")
                    .arg(&sync_data);
                (
                    "airlock sync yum",
                    timed_quiet(&sync, &run_dir.join("sync.log"))?,
                )
            } else {
                let timing = reposync(&dnf_dir, &upstream)?;
                let got = rpms_in(&dnf_dir.join("out").join(REPO))?;
                if got != rpms.set.len() {
                    return Err(io(format!(
                        "dnf reposync fetched {got} of {} RPMs",
                        rpms.set.len()
                    )));
                }
                ("dnf reposync", timing)
            };
            samples.push(Timed {
                peak_rss_mib: peak,
                bytes: rpms.bytes,
                files: rpms.set.len() as u64,
                ..sample("sync", target, wall)
            });
        }
        eprintln!("bench: yum: sync round {} done", round + 1);
    }
    drop(nginx_tuned);

    for s in &samples {
        raw.push_str(&s.json());
    }
    let mut checks = Vec::new();
    let mut report = String::new();
    report_repodata(&mut report, &mut checks, &samples, &rpms, ctx);
    report_gets(&mut report, &mut checks, &rows);
    report_sync(&mut report, &mut checks, &samples, &rpms);
    let peak = |target: &str| {
        rows.iter()
            .filter(|r| r.target == target)
            .map(|r| r.peak_rss_mib)
            .fold(0.0, f64::max)
    };
    let _ = writeln!(
        report,
        "memory: airlock idle RSS {idle_rss:.1} MiB; after {} publishes (the PUTs and DELETEs) \
         {before_gets_rss:.1} MiB; peak during the GETs {:.1} MiB; \
         nginx (master + workers) idle {nginx_idle:.1} MiB, peak {:.1} MiB",
        2 * ctx.rounds * PUTS_PER_ROUND,
        peak("airlock"),
        peak("nginx-default").max(peak("nginx-tuned")),
    );
    let _ = std::fs::remove_dir_all(&run_dir);
    Ok(Section {
        report,
        checks,
        raw,
    })
}

/// Which target goes first in a round: airlock on even rounds, the peer on odd.
fn turns(round: usize) -> [bool; 2] {
    if round.is_multiple_of(2) {
        [true, false]
    } else {
        [false, true]
    }
}

fn sample(scenario: &str, target: &str, seconds: f64) -> Timed {
    Timed {
        scenario: scenario.to_owned(),
        target: target.to_owned(),
        seconds,
        bytes: 0,
        files: 0,
        peak_rss_mib: 0.0,
    }
}

fn io(e: impl std::fmt::Display) -> String {
    format!("bench yum: {e}")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A config with the hosted repository and a writer for `PUT`.
fn write_config(ctx: &Ctx, dir: &Path) -> Result<PathBuf, String> {
    use std::io::Write as _;
    let mut child = Command::new(&ctx.airlock_bin)
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| io(format!("airlock hash-password: {e}")))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(PASSWORD.as_bytes())
        .map_err(io)?;
    let out = child.wait_with_output().map_err(io)?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let path = dir.join("airlock.toml");
    std::fs::write(
        &path,
        format!(
            "[[users]]\nname = \"{USER}\"\npassword_hash = \"{hash}\"\n\n\
             [yum]\n[[yum.repositories]]\nname = \"{REPO}\"\nkind = \"hosted\"\n"
        ),
    )
    .map_err(io)?;
    Ok(path)
}

/// A directory holding `rpms` (hard links: the same bytes, no copy).
fn link_tree(dir: &Path, rpms: &[PathBuf]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(io)?;
    for rpm in rpms {
        let to = dir.join(rpm.file_name().ok_or("no file name")?);
        if !to.exists() {
            std::fs::hard_link(rpm, &to).map_err(io)?;
        }
    }
    Ok(())
}

/// `cp -a from to`, replacing `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(to);
    timed_command(Command::new("cp").arg("-a").arg(from).arg(to)).map(|_| ())
}

/// Writes every dirty page to disk, untimed, before a timed command: airlock
/// makes what it stores durable (fsync, syncfs), and without this it also paid
/// for writing out the copy of a data directory the bench had just made.
fn settle() -> Result<(), String> {
    match Command::new("sync").status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("sync failed with {status}")),
        Err(e) => Err(format!("sync: {e}")),
    }
}

/// `createrepo_c ARGS DIR`: wall seconds.
fn createrepo(dir: &Path, args: &[&str]) -> Result<f64, String> {
    settle()?;
    Ok(timed_command(
        Command::new("createrepo_c")
            .arg("--quiet")
            .args(args)
            .arg(dir),
    )?
    .0)
}

/// What an nginx + createrepo_c user runs to publish uploaded RPMs, the
/// workflow `airlock yum add` replaces: copy them into the served tree, sync
/// it, `createrepo_c --no-database`. Wall seconds.
fn copy_and_createrepo(dir: &Path, rpms: &[PathBuf]) -> Result<f64, String> {
    std::fs::create_dir_all(dir).map_err(io)?;
    settle()?;
    Ok(timed_command(
        Command::new("sh")
            .arg("-c")
            .arg(r#"cp "$@" "$0" && sync -f "$0" && createrepo_c --quiet --no-database "$0""#)
            .arg(dir)
            .args(rpms),
    )?
    .0)
}

/// Storing alone, the floor under `airlock yum add` that createrepo_c never
/// pays: copy the RPMs into a new directory and sync it. Wall seconds.
fn copy_and_sync(dir: &Path, rpms: &[PathBuf]) -> Result<f64, String> {
    std::fs::create_dir_all(dir).map_err(io)?;
    settle()?;
    Ok(timed_command(
        Command::new("sh")
            .arg("-c")
            .arg(r#"cp "$@" "$0" && sync -f "$0""#)
            .arg(dir)
            .args(rpms),
    )?
    .0)
}

/// `airlock yum add REPO FILES…` into `data`: wall seconds and peak RSS (MiB).
fn yum_add(ctx: &Ctx, config: &Path, data: &Path, files: &[PathBuf]) -> Result<(f64, f64), String> {
    settle()?;
    timed_command(
        Command::new(&ctx.airlock_bin)
            .args(["yum", "add", "-c"])
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .arg(REPO)
            .args(files),
    )
}

/// `duration_ms` of the last "yum repository published" line of a log.
fn last_publish_ms(log: &Path) -> Result<f64, String> {
    let text = std::fs::read_to_string(log).map_err(io)?;
    text.lines()
        .rev()
        .filter(|l| l.contains("yum repository published"))
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|f| f.strip_prefix("duration_ms="))
                .and_then(|v| v.parse().ok())
        })
        .ok_or_else(|| io(format!("no publish in {}", log.display())))
}

/// A PUT or DELETE with the writer's credentials: wall seconds; fails unless
/// the status is `want`.
fn curl_write(args: &[&str], url: &str, want: u16) -> Result<f64, String> {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}"])
        .args(["-u", &format!("{USER}:{PASSWORD}")])
        .args(args)
        .arg(url)
        .output()
        .map_err(|e| io(format!("curl: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        [code, secs] if code.parse() == Ok(want) => secs.parse().map_err(io),
        _ => Err(io(format!(
            "curl {args:?} {url}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        ))),
    }
}

/// [`timed_command`] with the command's stderr (progress lines) in `log`.
fn timed_quiet(cmd: &Command, log: &Path) -> Result<(f64, f64), String> {
    // `exec` keeps the pid, so the timing samples the command's own memory.
    timed_command(
        Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" 2>\"$BENCH_LOG\"")
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .env("BENCH_LOG", log),
    )
}

/// `dnf reposync --download-metadata` of `baseurl` into `dir/out`, from
/// nothing, with no host repositories or dnf.conf defaults: wall seconds and
/// peak RSS.
fn reposync(dir: &Path, baseurl: &str) -> Result<(f64, f64), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("repos.d")).map_err(io)?;
    std::fs::write(
        dir.join("dnf.conf"),
        "[main]\ngpgcheck=0\nskip_if_unavailable=0\n",
    )
    .map_err(io)?;
    let path = |p: &str| dir.join(p).display().to_string();
    let mut cmd = Command::new("dnf");
    cmd.args(["-y", "-q"])
        .arg(format!("--config={}", path("dnf.conf")))
        .arg(format!("--setopt=reposdir={}", path("repos.d")))
        .arg(format!("--setopt=cachedir={}", path("cache")))
        .arg(format!("--installroot={}", path("root")))
        .arg(format!("--repofrompath={REPO},{baseurl}"))
        .args([&format!("--repo={REPO}"), "--releasever=10"])
        .args(["reposync", "--download-metadata", "-p"])
        .arg(path("out"))
        .env("LC_ALL", "C.UTF-8");
    timed_quiet(&cmd, &dir.join("dnf.log")).map_err(|e| {
        format!(
            "{e} (is dnf-plugins-core installed?): {}",
            std::fs::read_to_string(dir.join("dnf.log")).unwrap_or_default()
        )
    })
}

/// RPMs in a directory.
fn rpms_in(dir: &Path) -> Result<usize, String> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| io(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "rpm"))
        .count())
}

/// The mirror scenario's lines and its check.
fn report_sync(
    out: &mut String,
    checks: &mut Vec<Check>,
    samples: &[Timed],
    rpms: &fixtures::Rpms,
) {
    let secs = |target: &str| median_secs(samples, "sync", target);
    let peak = |target: &str| {
        samples
            .iter()
            .filter(|t| t.scenario == "sync" && t.target == target)
            .map(|t| t.peak_rss_mib)
            .fold(0.0, f64::max)
    };
    let (a, d) = (secs("airlock sync yum"), secs("dnf reposync"));
    let mb = rpms.bytes as f64 / 1e6;
    let _ = writeln!(
        out,
        "mirror of the {n}-RPM repository ({mb:.1} MB) from nginx on loopback, into nothing:\n  \
         airlock sync yum (every record and package checked, stored, one snapshot switch) {:>8.2} s  (peak RSS {:.0} MiB)\n  \
         dnf reposync --download-metadata (librepo checks each package)                  {:>8.2} s  (peak RSS {:.0} MiB)\n  \
         ratio {:.2}x\n",
        a,
        peak("airlock sync yum"),
        d,
        peak("dnf reposync"),
        ratio(a, d),
        n = rpms.set.len(),
    );
    checks.push(Check::new(
        format!(
            "airlock sync yum of {} RPMs <= 1.0x dnf reposync --download-metadata ({:.2}x)",
            rpms.set.len(),
            ratio(a, d)
        ),
        a <= d,
    ));
}

fn report_repodata(
    out: &mut String,
    checks: &mut Vec<Check>,
    samples: &[Timed],
    rpms: &fixtures::Rpms,
    ctx: &Ctx,
) {
    let n = rpms.set.len();
    let ms = |scenario: &str, target: &str| median_secs(samples, scenario, target) * 1e3;
    let _ = writeln!(
        out,
        "repodata for {n} RPMs ({} small with deps, scripts, /etc files and a 12-entry changelog, \
         and one of 5 MB; {:.1} MB in all), medians of {} rounds:",
        n - 1,
        rpms.bytes as f64 / 1e6,
        ctx.rounds
    );
    let full = ms("full", "airlock yum add");
    let publish = ms("full", "airlock publish");
    let peer = ms("full", "createrepo_c --no-database");
    let workflow = ms("full", "cp + sync + createrepo_c");
    let storing = ms("full", "cp + sync");
    let peak = samples
        .iter()
        .filter(|t| t.scenario == "full" && t.target == "airlock yum add")
        .map(|t| t.peak_rss_mib)
        .fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "  airlock yum add into a fresh data dir                     {full:>8.1} ms  (peak RSS {peak:.0} MiB)\n  \
         \x20 (stores each RPM: copy, sha256, header, fsync; then publishes)\n  \
         airlock publish alone, {n} packages (server log, after a DELETE) {publish:>8.1} ms\n  \
         createrepo_c --no-database (the same three files + repomd)  {peer:>8.1} ms\n  \
         createrepo_c (0.17's default: also the sqlite databases)   {:>8.1} ms\n  \
         cp into a served tree + sync + createrepo_c --no-database {workflow:>8.1} ms\n  \
         \x20 (what nginx + createrepo_c users run to publish uploaded RPMs)\n  \
         cp into a new directory + sync (storing alone: the floor)  {storing:>8.1} ms\n  \
         ratio airlock/createrepo_c --no-database: yum add {:.2}x, publish alone {:.2}x, \
         storing alone {:.2}x\n  \
         ratio airlock yum add/cp + sync + createrepo_c: {:.2}x",
        ms("full", "createrepo_c"),
        ratio(full, peer),
        ratio(publish, peer),
        ratio(storing, peer),
        ratio(full, workflow),
    );
    checks.push(Check::new(
        format!(
            "repodata for {n} uploaded RPMs <= 1.0x createrepo_c --no-database ({:.2}x, storing the RPMs \
             included; cp + sync of the same RPMs alone {:.2}x, cp + sync + createrepo_c {:.2}x)",
            ratio(full, peer),
            ratio(storing, peer),
            ratio(workflow, peer),
        ),
        full <= peer,
    ));
    let full_peer = ms("add-one", "createrepo_c --no-database");
    let add_cli = ms("add-one", "airlock yum add");
    let idle_cli = ms("add-one", "airlock yum add, nothing to do");
    let put = ms("add-one", "airlock PUT");
    let _ = writeln!(
        out,
        "adding one RPM to the {n}:\n  \
         airlock PUT to a running server (stored and published before the answer) {put:>8.1} ms\n  \
         \x20 (median of {} PUTs, each followed by a DELETE)\n  \
         \x20 of which the publish ({} packages; server log)                     {:>8.1} ms\n  \
         airlock yum add, a new process                                         {add_cli:>8.1} ms\n  \
         airlock yum add of it again, a new process with nothing to do (floor) {idle_cli:>8.1} ms\n  \
         createrepo_c --no-database --update                                    {:>8.1} ms\n  \
         createrepo_c --no-database, a full run over {} RPMs                    {full_peer:>8.1} ms\n  \
         ratios to the full run: PUT {:.3}x, yum add {:.3}x (nothing to do {:.3}x), \
         createrepo_c --update {:.3}x",
        ctx.rounds * PUTS_PER_ROUND,
        n + 1,
        ms("add-one", "airlock publish"),
        ms("add-one", "createrepo_c --update"),
        n + 1,
        ratio(put, full_peer),
        ratio(add_cli, full_peer),
        ratio(idle_cli, full_peer),
        ratio(ms("add-one", "createrepo_c --update"), full_peer),
    );
    let floor = format!(
        "; a yum add with nothing to do {:.3}x",
        ratio(idle_cli, full_peer)
    );
    for (how, value, beside) in [("PUT", put, ""), ("airlock yum add", add_cli, &floor[..])] {
        checks.push(Check::new(
            format!(
                "adding one RPM to {n} ({how}) <= 0.1x a full createrepo_c run ({:.3}x{beside})",
                ratio(value, full_peer)
            ),
            value <= 0.1 * full_peer,
        ));
    }
    let _ = writeln!(out);
}

/// The GET table, a ratio line per cell, and the checks: `repomd.xml` at
/// least half the faster nginx's req/s, the 5 MB RPM at least 0.9 of it.
fn report_gets(out: &mut String, checks: &mut Vec<Check>, rows: &[Row]) {
    out.push_str(&table(rows));
    let _ = writeln!(
        out,
        "\nratios airlock/peer (req/s: higher is better; CPU per request: lower is better)"
    );
    for (scenario, conc) in cells(rows) {
        if let Some(line) = ratio_line(rows, &scenario, conc, PEERS) {
            let _ = writeln!(out, "{line}");
        }
        let Some((a, d, t)) = super::airlock_and_nginxes(rows, &scenario, conc) else {
            continue;
        };
        let best = if d.load.rps >= t.load.rps { d } else { t };
        let want = if scenario == "repomd.xml" { 0.5 } else { 0.9 };
        let r = ratio(a.load.rps, best.load.rps);
        checks.push(Check::new(
            format!(
                "{scenario} GET c={conc}: req/s >= {want}x the faster nginx ({r:.2}x; CPU/req {:.1} us vs {:.1} us; p99 {:.2} ms vs {:.2} ms)",
                a.cpu_us_per_req, best.cpu_us_per_req, a.load.p99_ms, best.load.p99_ms
            ),
            r >= want,
        ));
    }
    let _ = writeln!(out);
}
