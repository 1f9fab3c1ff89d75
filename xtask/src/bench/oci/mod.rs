//! The OCI section: airlock's registry against Debian's `docker-registry` (and
//! nginx answering the same bytes from files) on the same content.
//!
//! - manifest GET by tag and tag list, c=1/16/64 (req/s, p99, CPU per request),
//!   with nginx answering the same bytes from files beside them (what a small
//!   GET costs on this machine; at c=1, the loopback round trip);
//! - a large blob GET at 1 and 4 streams, against nginx serving airlock's own
//!   blob file (both nginx flavors; the faster one is the bar);
//! - a skopeo push of a large layer into a fresh registry each round (MB/s and
//!   server CPU per GB);
//! - a cold pull-through of a layer from a docker-registry upstream, against
//!   pulling it from that registry directly;
//! - idle RSS, and its growth while four clients download the large blob.

mod fixtures;
mod sink;

use super::procs::{self, NginxFlavor, Server};
use super::{
    measure_urls_with, median, ratio, ratio_line, require_tools, table, timed_command, Check, Ctx,
    Scenario, Section,
};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The writer airlock's pushes use: `ci` / `secret` (argon2id of "secret").
const USER: &str = "ci:secret";
const PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$QzmutiUlAYnQzikR+1Rl4w$BOaQ/JtWxaGhQpvrtnPwq3WIuf8Xf/tFD2GRAteBOA4";

/// What a manifest GET sends: docker-registry answers an OCI manifest only to
/// clients that accept its type.
const ACCEPT: &str = "Accept: application/vnd.oci.image.manifest.v1+json";

/// Tags of the small image (the tag list's length).
const TAGS: usize = 30;

pub fn run(ctx: &Ctx) -> Result<Section, String> {
    require_tools(&[
        ("docker-registry", "docker-registry"),
        ("skopeo", "skopeo"),
        ("curl", "curl"),
    ])?;
    let sizes = match ctx.quick {
        true => fixtures::Sizes {
            big: 256 << 20,
            push: 100 << 20,
            pull: 64 << 20,
        },
        false => fixtures::Sizes {
            big: 1 << 30,
            push: 500 << 20,
            pull: 200 << 20,
        },
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
    let mut report = String::new();
    let mut checks = Vec::new();

    // The same image and tags in both registries; the big blob in airlock.
    let data = run_dir.join("airlock");
    let config = write_config(&run_dir, "airlock.toml", "")?;
    let airlock = start_airlock(ctx, &data, &config, &run_dir.join("airlock.log"))?;
    let registry = docker_registry(&run_dir.join("registry"), "docker-registry")?;
    for (server, creds) in [(&airlock, Some(USER)), (&registry, None)] {
        fix.push_small(&server.base, creds, TAGS)?;
    }
    let big = fix.push_blob(&airlock.base, USER, "bench/big", &fix.big)?;
    // Restarted: what it holds at rest, with nothing cached from the pushes.
    drop(airlock);
    let airlock = start_airlock(ctx, &data, &config, &run_dir.join("airlock.log"))?;
    std::thread::sleep(Duration::from_millis(500));
    let idle_rss = airlock.rss_mib();

    // nginx answering the same bytes from files: what a small GET costs on this
    // machine when the server does nothing else (at c=1, the loopback round trip).
    let small_paths = [
        ("manifest-tag", "/v2/bench/app/manifests/t0"),
        ("tag-list", "/v2/bench/app/tags/list"),
    ];
    let small_dir = run_dir.join("small");
    for (_, path) in small_paths {
        save_answer(&airlock.base, path, &small_dir)?;
    }
    let small_nginx = procs::nginx(
        NginxFlavor::Tuned,
        &[("/v2/", &small_dir.join("v2"))],
        &run_dir.join("nginx-small"),
        procs::free_port()?,
    )?;

    let mut rows = Vec::new();
    for (name, path) in small_paths {
        let scenario = Scenario {
            name,
            path,
            concs: &[1, 16, 64],
            secs: ctx.small_secs,
        };
        let urls = [&airlock, &registry, &small_nginx].map(|s| (s, format!("{}{path}", s.base)));
        rows.extend(measure_urls_with(
            ctx,
            &urls,
            &scenario,
            &[ACCEPT],
            &mut raw,
        )?);
    }
    for name in ["manifest-tag", "tag-list"] {
        for conc in [1, 16, 64] {
            let (Some(a), Some(p)) = (
                super::find(&rows, name, conc, "airlock"),
                super::find(&rows, name, conc, "docker-registry"),
            ) else {
                continue;
            };
            let nginx = super::find(&rows, name, conc, "nginx-tuned").map_or(String::new(), |n| {
                format!(
                    "; nginx on the same bytes: {:.1}x",
                    ratio(n.load.rps, p.load.rps)
                )
            });
            checks.push(Check::new(
                format!(
                    "{name} c={conc}: {:.1}x docker-registry's req/s (target >= 10x{nginx})",
                    ratio(a.load.rps, p.load.rps)
                ),
                a.load.rps >= 10.0 * p.load.rps,
            ));
        }
        if let Some(a) = super::find(&rows, name, 64, "airlock") {
            checks.push(Check::new(
                format!("{name} c=64: p99 {:.2} ms (target <= 5 ms)", a.load.p99_ms),
                a.load.p99_ms <= 5.0,
            ));
        }
    }

    drop(small_nginx);

    // The big blob: airlock against nginx serving the very file airlock stores.
    let hex = big.trim_start_matches("sha256:");
    let blob_dir = data.join("blobs/sha256").join(&hex[..2]);
    let nginxes = [NginxFlavor::Default, NginxFlavor::Tuned]
        .iter()
        .enumerate()
        .map(|(i, flavor)| {
            procs::nginx(
                *flavor,
                &[("/blob/", &blob_dir)],
                &run_dir.join(format!("nginx{i}")),
                procs::free_port()?,
            )
        })
        .collect::<Result<Vec<Server>, String>>()?;
    let blob_path = format!("/v2/bench/big/blobs/{big}");
    let mut urls = vec![(&airlock, format!("{}{blob_path}", airlock.base))];
    for n in &nginxes {
        urls.push((n, format!("{}/blob/{hex}", n.base)));
    }
    let scenario = Scenario {
        name: "blob-1GiB",
        path: &blob_path,
        concs: &[1, 4],
        // Long enough for four 1 GiB downloads to complete (wrk counts whole answers).
        secs: ctx.large_secs.max(8),
    };
    let blob_rows = measure_urls_with(ctx, &urls, &scenario, &[], &mut raw)?;
    for conc in [1, 4] {
        let a = super::find(&blob_rows, "blob-1GiB", conc, "airlock").map_or(0.0, |r| r.load.mbps);
        let best = ["nginx-default", "nginx-tuned"]
            .iter()
            .filter_map(|n| super::find(&blob_rows, "blob-1GiB", conc, n))
            .map(|r| r.load.mbps)
            .fold(0.0, f64::max);
        checks.push(Check::new(
            format!(
                "blob GET c={conc}: {:.2}x the faster nginx's MB/s (target >= 0.9x)",
                ratio(a, best)
            ),
            a >= 0.9 * best,
        ));
    }
    drop(nginxes);

    // Memory: four clients download the big blob at once.
    airlock.reset_peak();
    let url = format!("{}{blob_path}", airlock.base);
    let downloads: Vec<_> = (0..4)
        .map(|_| {
            Command::new("curl")
                .args(["-sS", "-o", "/dev/null", &url])
                .spawn()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("curl: {e}"))?;
    for mut d in downloads {
        d.wait().map_err(|e| e.to_string())?;
    }
    let growth = (airlock.peak_rss_mib() - idle_rss).max(0.0);
    checks.push(Check::new(
        format!("idle RSS {idle_rss:.1} MiB (target <= 32 MiB)"),
        idle_rss <= 32.0,
    ));
    checks.push(Check::new(
        format!("RSS growth serving 4 x the big blob: {growth:.1} MiB (target <= 16 MiB)"),
        growth <= 16.0,
    ));
    drop(airlock);
    drop(registry);

    // skopeo push of a large layer, into fresh registries each round, and
    // into the sink: what skopeo itself can send (the floor of any registry).
    let sink = sink::start()?;
    let mut push: Vec<(&str, f64, f64)> = Vec::new();
    for round in 0..ctx.rounds {
        for target in ["airlock", "docker-registry", "sink"] {
            let dir = run_dir.join(format!("push-{target}-{round}"));
            let (server, creds) = match target {
                "airlock" => {
                    let config = write_config(&run_dir, "push.toml", "")?;
                    let s = start_airlock(ctx, &dir, &config, &dir.with_extension("log"))?;
                    (Some(s), Some(USER))
                }
                "sink" => (None, None),
                _ => (Some(docker_registry(&dir, target)?), None),
            };
            let cpu_of = |s: &Option<Server>| s.as_ref().map_or(0.0, Server::cpu_seconds);
            let cpu = cpu_of(&server);
            let base = server.as_ref().map_or(&sink.base, |s| &s.base);
            let host = base.trim_start_matches("http://");
            let mut cmd = Command::new("skopeo");
            cmd.args(["copy", "--preserve-digests", "--dest-tls-verify=false"]);
            if let Some(creds) = creds {
                cmd.args(["--dest-creds", creds]);
            }
            cmd.arg(fix.push_reference())
                .arg(format!("docker://{host}/bench/push:1"));
            let (secs, _) = timed_command(&mut cmd)?;
            let cpu = cpu_of(&server) - cpu;
            raw.push_str(&format!(
                "{{\"section\":\"oci\",\"scenario\":\"push\",\"target\":\"{target}\",\"round\":{round},\"seconds\":{secs:.3},\"cpu\":{cpu:.3}}}\n"
            ));
            push.push((target, secs, cpu));
            drop(server);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let mb = fix.push_bytes as f64 / 1e6;
    let push_of = |t: &str| {
        let secs = median(push.iter().filter(|p| p.0 == t).map(|p| p.1).collect());
        let cpu = median(push.iter().filter(|p| p.0 == t).map(|p| p.2).collect());
        (ratio(mb, secs), ratio(cpu, mb / 1000.0))
    };
    let (a_mbps, a_cpu) = push_of("airlock");
    let (r_mbps, r_cpu) = push_of("docker-registry");
    let (floor_mbps, _) = push_of("sink");
    checks.push(Check::new(
        format!(
            "skopeo push: {:.2}x docker-registry's MB/s (target >= 1.4x; skopeo's floor, a sink that discards, {:.2}x)",
            ratio(a_mbps, r_mbps),
            ratio(floor_mbps, r_mbps)
        ),
        a_mbps >= 1.4 * r_mbps,
    ));
    checks.push(Check::new(
        format!(
            "skopeo push: server CPU per GB {a_cpu:.2}s vs docker-registry's {r_cpu:.2}s (target <=)"
        ),
        a_cpu <= r_cpu,
    ));

    // Cold pull-through: a fresh airlock in front of a docker-registry each round.
    let upstream = docker_registry(&run_dir.join("upstream"), "upstream")?;
    let pull = fix.push_blob(&upstream.base, "", "bench/pull", &fix.pull)?;
    let (mut through, mut direct) = (Vec::new(), Vec::new());
    // CPU seconds while the client pulled: airlock, the upstream through it,
    // the upstream pulled directly.
    let (mut airlock_cpu, mut upstream_cpu, mut direct_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ctx.rounds {
        let dir = run_dir.join(format!("pull-{round}"));
        let upstreams = format!(
            "[[oci.upstreams]]\nname = \"up\"\nurl = \"{}\"\n",
            upstream.base
        );
        let config = write_config(&run_dir, "pull.toml", &upstreams)?;
        let server = start_airlock(ctx, &dir, &config, &dir.with_extension("log"))?;
        let (a, u) = (server.cpu_seconds(), upstream.cpu_seconds());
        let (_, secs) =
            super::curl_timing(&format!("{}/v2/up/bench/pull/blobs/{pull}", server.base))?;
        through.push(secs);
        airlock_cpu.push(server.cpu_seconds() - a);
        upstream_cpu.push(upstream.cpu_seconds() - u);
        let u = upstream.cpu_seconds();
        let (_, secs) =
            super::curl_timing(&format!("{}/v2/bench/pull/blobs/{pull}", upstream.base))?;
        direct.push(secs);
        direct_cpu.push(upstream.cpu_seconds() - u);
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (through, direct) = (median(through), median(direct));
    let (airlock_cpu, upstream_cpu, direct_cpu) = (
        median(airlock_cpu),
        median(upstream_cpu),
        median(direct_cpu),
    );
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let hash_secs = sha256_seconds(&fix.pull)?;
    // The least time the two servers' CPU alone allows on this machine's
    // cores (the client's own CPU left out): near `through`, the pull is
    // bound by CPU, not by waiting.
    let cpu_floor = (airlock_cpu + upstream_cpu) / cores as f64;
    checks.push(Check::new(
        format!(
            "cold pull-through: {:.2}x the time of pulling directly (target <= 1.3x)",
            ratio(through, direct)
        ),
        through <= 1.3 * direct,
    ));
    drop(upstream);

    let _ = writeln!(report, "{}", table(&rows));
    for name in ["manifest-tag", "tag-list"] {
        for conc in [1, 16, 64] {
            if let Some(line) = ratio_line(&rows, name, conc, &["docker-registry", "nginx-tuned"]) {
                let _ = writeln!(report, "{line}");
            }
        }
    }
    let _ = writeln!(report, "\n{}", table(&blob_rows));
    let _ = writeln!(
        report,
        "push ({:.0} MB layer, skopeo): airlock {a_mbps:.0} MB/s, {a_cpu:.2} CPU s/GB; docker-registry {r_mbps:.0} MB/s, {r_cpu:.2} CPU s/GB",
        mb
    );
    let _ = writeln!(
        report,
        "push floor: skopeo into a sink that discards every byte (no hashing, no disk) {floor_mbps:.0} MB/s, {:.2}x docker-registry's, {:.2}x airlock's",
        ratio(floor_mbps, r_mbps),
        ratio(floor_mbps, a_mbps)
    );
    let _ = writeln!(
        report,
        "cold pull-through ({:.0} MB blob): through airlock {through:.2}s, direct from docker-registry {direct:.2}s",
        fix.pull_bytes as f64 / 1e6
    );
    let _ = writeln!(
        report,
        "cold pull-through CPU while the client pulled: airlock {airlock_cpu:.2}s, upstream {upstream_cpu:.2}s \
         (direct: upstream {direct_cpu:.2}s); on {cores} cores those alone need >= {cpu_floor:.2}s, {:.2}x the direct pull; \
         sha256 of the blob alone (this process, one core) {hash_secs:.2}s, {:.2}x the direct pull",
        ratio(cpu_floor, direct),
        ratio(hash_secs, direct)
    );
    let _ = writeln!(
        report,
        "memory: idle RSS {idle_rss:.1} MiB; growth while 4 clients download the big blob {growth:.1} MiB"
    );
    Ok(Section {
        report,
        checks,
        raw,
    })
}

/// Saves airlock's answer to `path` (as the bench asks for it) under `dir`, at
/// the same path, for nginx.
fn save_answer(base: &str, path: &str, dir: &Path) -> Result<(), String> {
    let file = dir.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(file.parent().ok_or("no parent")?).map_err(|e| e.to_string())?;
    crate::run(
        Command::new("curl")
            .args(["-sSf", "-H", ACCEPT, "-o"])
            .arg(&file)
            .arg(format!("{base}{path}")),
    )
}

/// Seconds to sha256 a file already in the page cache, on this thread (the
/// best of three: the machine is shared): what a pull-through must spend, on
/// some core, before its client's last byte.
fn sha256_seconds(path: &Path) -> Result<f64, String> {
    use sha2::{Digest as _, Sha256};
    use std::io::Read as _;
    let mut buf = vec![0u8; 1 << 20];
    let mut best = f64::MAX;
    for _ in 0..3 {
        let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut hasher = Sha256::new();
        let start = std::time::Instant::now();
        loop {
            match file.read(&mut buf).map_err(|e| e.to_string())? {
                0 => break,
                n => hasher.update(&buf[..n]),
            }
        }
        let _ = hasher.finalize();
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// An airlock config with the bench's writer, and `extra`.
fn write_config(dir: &Path, name: &str, extra: &str) -> Result<std::path::PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("[[users]]\nname = \"ci\"\npassword_hash = \"{PASSWORD_HASH}\"\n{extra}"),
    )
    .map_err(|e| e.to_string())?;
    Ok(path)
}

fn start_airlock(ctx: &Ctx, data: &Path, config: &Path, log: &Path) -> Result<Server, String> {
    let config = config.to_string_lossy().into_owned();
    procs::airlock(&ctx.airlock_bin, data, &["-c", &config], &[], log)
}

/// Debian's docker-registry on a free port, storing under `dir`.
fn docker_registry(dir: &Path, name: &str) -> Result<Server, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let port = procs::free_port()?;
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new("docker-registry");
    cmd.arg("serve").arg(&config);
    procs::spawn(name, &mut cmd, port)
}
