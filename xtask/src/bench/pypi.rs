//! The PyPI section: airlock's Python index against devpi-server and pypiserver
//! (from PyPI, in a venv made under `target/bench/tools/`) and nginx serving
//! pre-rendered pages of the same index: airlock's own pages, saved byte for
//! byte, so both answer the same bytes (a minimal page without the PEP 658/700
//! attributes is 40% of the size, and bytes are most of a page's cost).
//!
//! - a project page with 200 files (airlock, devpi, nginx), c=1/16/64;
//! - the root page of 2,000 projects (airlock, pypiserver, nginx);
//! - a 5 MB wheel (airlock, nginx);
//! - a cold `pip download` of 30 wheels through an airlock mirror whose upstream
//!   is that nginx, against pip from nginx directly;
//! - `twine upload` of 200 wheels into a fresh airlock and a fresh devpi index.
//!
//! The fixtures are small valid wheels written with the zip crate. airlock's
//! hosted content (2,200 uploads) is made once and kept under the work directory.

use super::procs::{self, NginxFlavor};
use super::{
    find, measure_urls, median_secs, ratio, ratio_line, require_tools, table, Check, Ctx, Scenario,
    Section, Timed,
};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const PAGE_FILES: usize = 200;
const ROOT_PROJECTS: usize = 2000;
const DOWNLOAD_WHEELS: usize = 30;
const LARGE_WHEEL: usize = 5 << 20;
const PASSWORD: &str = "bench-secret";

/// A wheel written for the bench.
struct Wheel {
    path: PathBuf,
    name: String,
    version: String,
    sha256: String,
}

impl Wheel {
    fn filename(&self) -> &str {
        self.path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
    }
}

/// Writes a valid wheel of `name` `version` with `pad` stored pseudo-random bytes.
fn write_wheel(dir: &Path, name: &str, version: &str, pad: usize) -> Result<Wheel, String> {
    let module = name.replace('-', "_");
    let filename = format!("{module}-{version}-py3-none-any.whl");
    let path = dir.join(&filename);
    let dist_info = format!("{module}-{version}.dist-info");
    let mut state = 0x2545_f491_4f6c_dd1d_u64 ^ (pad as u64);
    let padding: Vec<u8> = (0..pad)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let members: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{module}/__init__.py"),
            format!("VERSION = {version:?}\n").into_bytes(),
        ),
        (format!("{module}/data.bin"), padding),
        (
            format!("{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: bench\n")
                .into_bytes(),
        ),
        (
            format!("{dist_info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: airlock-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ];
    let mut record = String::new();
    for (member, body) in &members {
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(body));
        let _ = writeln!(record, "{member},sha256={hash},{}", body.len());
    }
    let _ = writeln!(record, "{dist_info}/RECORD,,");
    let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (member, body) in members.iter().chain(std::iter::once(&(
        format!("{dist_info}/RECORD"),
        record.into_bytes(),
    ))) {
        zip.start_file(member.as_str(), options)
            .map_err(|e| e.to_string())?;
        zip.write_all(body).map_err(|e| e.to_string())?;
    }
    zip.finish().map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
    Ok(Wheel {
        sha256: hex(&Sha256::digest(&bytes)),
        path,
        name: name.to_owned(),
        version: version.to_owned(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fixture wheels and nginx's pre-rendered tree (`simple/…`, `files/…`).
struct Fixtures {
    page: Vec<Wheel>,
    many: Vec<Wheel>,
    large: Wheel,
    download: Vec<Wheel>,
    tree: PathBuf,
    many_dir: PathBuf,
}

fn build_fixtures(work: &Path) -> Result<Fixtures, String> {
    let tree = work.join("tree");
    let files = tree.join("files");
    let many_dir = work.join("many");
    for dir in [&files, &many_dir] {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let page = (0..PAGE_FILES)
        .map(|i| write_wheel(&files, "bench-page", &format!("1.0.{i}"), 256))
        .collect::<Result<Vec<_>, _>>()?;
    let many = (0..ROOT_PROJECTS)
        .map(|i| write_wheel(&many_dir, &format!("bench-many-{i}"), "1.0", 0))
        .collect::<Result<Vec<_>, _>>()?;
    let large = write_wheel(&files, "bench-large", "1.0", LARGE_WHEEL)?;
    let download = (0..DOWNLOAD_WHEELS)
        .map(|i| write_wheel(&files, &format!("bench-dl-{i}"), "1.0", 64 << 10))
        .collect::<Result<Vec<_>, _>>()?;
    // Pre-rendered PEP 503 pages, as a static mirror would have them.
    let project_page = |name: &str, wheels: &[&Wheel]| -> Result<(), String> {
        let mut html = format!(
            "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for {name}</title></head><body>\n"
        );
        for w in wheels {
            let _ = writeln!(
                html,
                "<a href=\"../../files/{f}#sha256={s}\">{f}</a><br>",
                f = w.filename(),
                s = w.sha256
            );
        }
        html.push_str("</body></html>\n");
        let dir = tree.join("simple").join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("index.html"), html).map_err(|e| e.to_string())
    };
    // The mirror's upstream pages (nginx's rows read airlock's own pages:
    // `save_rendered`).
    project_page("bench-large", &[&large])?;
    for w in &download {
        project_page(&w.name, &[w])?;
    }
    Ok(Fixtures {
        page,
        many,
        large,
        download,
        tree,
        many_dir,
    })
}

/// The venv with devpi-server, devpi-client and pypiserver (made on first use).
fn peers_venv(ctx: &Ctx) -> Result<PathBuf, String> {
    let tools = ctx
        .work
        .parent()
        .ok_or("no bench directory")?
        .join("tools/pypi-peers");
    let bin = tools.join("bin");
    if !bin.join("devpi-server").is_file() || !bin.join("pypi-server").is_file() {
        eprintln!("bench: installing devpi-server, devpi-client and pypiserver from PyPI");
        crate::run(Command::new("python3").args(["-m", "venv"]).arg(&tools))?;
        crate::run(Command::new(bin.join("pip")).args([
            "install",
            "-q",
            "devpi-server",
            "devpi-client",
            "pypiserver",
        ]))?;
    }
    Ok(bin)
}

/// pip and twine (from `cargo xtask ci`'s venv).
fn client_venv(ctx: &Ctx) -> Result<PathBuf, String> {
    let bin = ctx
        .work
        .parent()
        .and_then(Path::parent)
        .ok_or("no target directory")?
        .join("tools/py-venv/bin");
    for tool in ["pip", "twine"] {
        if !bin.join(tool).is_file() {
            return Err(format!(
                "{tool} is missing from {}: run `cargo xtask ci` first (it makes that venv)",
                bin.display()
            ));
        }
    }
    Ok(bin)
}

/// A command with no machine pip/twine configuration.
fn clean(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let upper = key.to_string_lossy().to_ascii_uppercase();
        if upper.starts_with("PIP_") || upper.starts_with("TWINE_") || upper.ends_with("_PROXY") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn run_quiet(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn timed(cmd: &mut Command, what: &str) -> Result<f64, String> {
    let started = Instant::now();
    run_quiet(cmd, what)?;
    Ok(started.elapsed().as_secs_f64())
}

fn airlock_config(bin: &Path, upstream: &str) -> Result<String, String> {
    let mut child = Command::new(bin)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(PASSWORD.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(format!(
        "[[users]]\nname = \"bench\"\npassword_hash = \"{hash}\"\n\n\
         [pypi]\npage_max_age = \"10m\"\nmirror_page_ttl = \"1h\"\n\
         [[pypi.index]]\nname = \"root/bench\"\nkind = \"hosted\"\n\
         [[pypi.index]]\nname = \"root/many\"\nkind = \"hosted\"\n\
         [[pypi.index]]\nname = \"root/mirror\"\nkind = \"mirror\"\nupstream = \"{upstream}\"\n"
    ))
}

/// Uploads `wheels` to `index_url` with curl, four at a time (set-up, not timed).
fn curl_uploads(index_url: &str, wheels: &[Wheel]) -> Result<(), String> {
    for batch in wheels.chunks(4) {
        let children = batch
            .iter()
            .map(|w| {
                Command::new("curl")
                    .args(["-sf", "-o", "/dev/null", "-u"])
                    .arg(format!("bench:{PASSWORD}"))
                    .args(["-F", ":action=file_upload", "-F"])
                    .arg(format!("name={}", w.name))
                    .arg("-F")
                    .arg(format!("version={}", w.version))
                    .arg("-F")
                    .arg(format!("sha256_digest={}", w.sha256))
                    .arg("-F")
                    .arg(format!("content=@{}", w.path.display()))
                    .arg(index_url)
                    .spawn()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        for mut child in children {
            let status = child.wait().map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("an upload to {index_url} failed ({status})"));
            }
        }
    }
    Ok(())
}

fn twine_upload(twine: &Path, url: &str, user: &str, password: &str, wheels: &[Wheel]) -> Command {
    let mut cmd = clean(twine);
    cmd.args([
        "upload",
        "--disable-progress-bar",
        "--non-interactive",
        "--repository-url",
        url,
    ])
    .args(["-u", user, "-p", password])
    .args(wheels.iter().map(|w| &w.path));
    cmd
}

pub fn run(ctx: &Ctx) -> Result<Section, String> {
    require_tools(&[("curl", "curl")])?;
    let peers = peers_venv(ctx)?;
    let clients = client_venv(ctx)?;
    let fx = build_fixtures(&ctx.work)?;
    let run_dir = ctx.work.join("run");
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
    let mut raw = String::new();

    let nginx = procs::nginx(
        NginxFlavor::Tuned,
        &[("/", &fx.tree)],
        &run_dir.join("nginx"),
        procs::free_port()?,
    )?;
    let config = airlock_config(&ctx.airlock_bin, &format!("{}/simple/", nginx.base))?;

    // airlock's hosted content, made once (2,200 uploads).
    let data = ctx.work.join("airlock-data");
    let ready = data.join(".bench-ready");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    std::fs::write(data.join("airlock.toml"), &config).map_err(|e| e.to_string())?;
    let config_arg = data.join("airlock.toml");
    let config_arg = config_arg.to_str().ok_or("path")?;
    let airlock = procs::airlock(
        &ctx.airlock_bin,
        &data,
        &["-c", config_arg],
        &[],
        &run_dir.join("airlock.log"),
    )?;
    if !ready.exists() {
        eprintln!("bench: uploading the fixtures into airlock (once)");
        let bench = format!("{}/pypi/root/bench/", airlock.base);
        curl_uploads(&bench, &fx.page)?;
        curl_uploads(&bench, std::slice::from_ref(&fx.large))?;
        curl_uploads(&format!("{}/pypi/root/many/", airlock.base), &fx.many)?;
        std::fs::write(&ready, "").map_err(|e| e.to_string())?;
    }

    // devpi: a fresh server; the first timed upload fills the index the page is read from.
    let devpi_dir = run_dir.join("devpi");
    run_quiet(
        Command::new(peers.join("devpi-init"))
            .arg("--serverdir")
            .arg(&devpi_dir)
            .args(["--no-root-pypi", "--root-passwd", PASSWORD]),
        "devpi-init",
    )?;
    let devpi_port = procs::free_port()?;
    let devpi = procs::spawn(
        "devpi",
        Command::new(peers.join("devpi-server"))
            .arg("--serverdir")
            .arg(&devpi_dir)
            .args(["--host", "127.0.0.1", "--port", &devpi_port.to_string()]),
        devpi_port,
    )?;
    let devpi_cli = |args: &[&str]| {
        run_quiet(
            clean(&peers.join("devpi"))
                .arg("--clientdir")
                .arg(run_dir.join("devpi-client"))
                .args(args),
            &format!("devpi {}", args.join(" ")),
        )
    };
    devpi_cli(&["use", &devpi.base])?;
    devpi_cli(&["login", "root", "--password", PASSWORD])?;

    // Uploads: 200 wheels with twine into a fresh airlock and a fresh devpi index.
    let mut timed_rows: Vec<Timed> = Vec::new();
    // One round: a devpi upload of 200 files takes over a minute on this machine.
    let upload_rounds = 1;
    for round in 0..upload_rounds {
        let index = format!("root/up{round}");
        devpi_cli(&["index", "-c", &index, "bases="])?;
        let fresh = run_dir.join(format!("upload-{round}"));
        std::fs::create_dir_all(&fresh).map_err(|e| e.to_string())?;
        std::fs::write(fresh.join("airlock.toml"), &config).map_err(|e| e.to_string())?;
        let fresh_config = fresh.join("airlock.toml");
        let target = procs::airlock(
            &ctx.airlock_bin,
            &fresh,
            &["-c", fresh_config.to_str().ok_or("path")?],
            &[],
            &run_dir.join(format!("upload-{round}.log")),
        )?;
        let via_airlock = timed(
            &mut twine_upload(
                &clients.join("twine"),
                &format!("{}/pypi/root/bench/", target.base),
                "bench",
                PASSWORD,
                &fx.page,
            ),
            "twine upload to airlock",
        )?;
        drop(target);
        let via_devpi = timed(
            &mut twine_upload(
                &clients.join("twine"),
                &format!("{}/{index}/", devpi.base),
                "root",
                PASSWORD,
                &fx.page,
            ),
            "twine upload to devpi",
        )?;
        for (target, seconds) in [("airlock", via_airlock), ("devpi", via_devpi)] {
            let row = Timed {
                scenario: "upload".into(),
                target: target.into(),
                seconds,
                bytes: fx.page.iter().map(|w| file_len(&w.path)).sum(),
                files: PAGE_FILES as u64,
                peak_rss_mib: 0.0,
            };
            raw.push_str(&row.json());
            timed_rows.push(row);
        }
        eprintln!("bench: upload round {round} done");
    }

    let pypiserver_port = procs::free_port()?;
    let pypiserver = procs::spawn(
        "pypiserver",
        Command::new(peers.join("pypi-server"))
            .args(["run", "-p", &pypiserver_port.to_string(), "-i", "127.0.0.1"])
            .args(["-a", ".", "-P", "."])
            .arg(&fx.many_dir),
        pypiserver_port,
    )?;

    save_rendered(
        &format!("{}/pypi/root/bench/simple/bench-page/", airlock.base),
        &fx.tree.join("rendered/bench-page"),
    )?;
    save_rendered(
        &format!("{}/pypi/root/many/simple/", airlock.base),
        &fx.tree.join("rendered"),
    )?;

    let mut rows = Vec::new();
    let page_concs: &[u32] = &[1, 16, 64];
    rows.extend(measure_urls(
        ctx,
        &[
            (
                &airlock,
                format!("{}/pypi/root/bench/simple/bench-page/", airlock.base),
            ),
            (
                &devpi,
                format!("{}/root/up0/+simple/bench-page/", devpi.base),
            ),
            (&nginx, format!("{}/rendered/bench-page/", nginx.base)),
        ],
        &Scenario {
            name: "project-page",
            path: "",
            concs: page_concs,
            secs: ctx.small_secs,
        },
        &mut raw,
    )?);
    rows.extend(measure_urls(
        ctx,
        &[
            (&airlock, format!("{}/pypi/root/many/simple/", airlock.base)),
            (&pypiserver, format!("{}/simple/", pypiserver.base)),
            (&nginx, format!("{}/rendered/", nginx.base)),
        ],
        &Scenario {
            name: "root-page",
            path: "",
            concs: &[1, 16],
            secs: ctx.small_secs,
        },
        &mut raw,
    )?);
    let large = fx.large.filename().to_owned();
    rows.extend(measure_urls(
        ctx,
        &[
            (
                &airlock,
                format!("{}/pypi/root/bench/files/{large}", airlock.base),
            ),
            (&nginx, format!("{}/files/{large}", nginx.base)),
        ],
        &Scenario {
            name: "wheel-5mb",
            path: "",
            concs: &[1, 16],
            secs: ctx.medium_secs,
        },
        &mut raw,
    )?);
    drop(pypiserver);
    drop(devpi);
    drop(airlock);

    // Cold pip download of 30 wheels: through a fresh airlock mirror of nginx,
    // and from nginx directly.
    let names: Vec<&str> = fx.download.iter().map(|w| w.name.as_str()).collect();
    for round in 0..ctx.rounds {
        let fresh = run_dir.join(format!("mirror-{round}"));
        std::fs::create_dir_all(&fresh).map_err(|e| e.to_string())?;
        std::fs::write(fresh.join("airlock.toml"), &config).map_err(|e| e.to_string())?;
        let fresh_config = fresh.join("airlock.toml");
        let mirror = procs::airlock(
            &ctx.airlock_bin,
            &fresh,
            &["-c", fresh_config.to_str().ok_or("path")?],
            &[],
            &run_dir.join(format!("mirror-{round}.log")),
        )?;
        let download = |index: &str, out: &str| {
            let mut cmd = clean(&clients.join("pip"));
            cmd.args(["download", "--no-deps", "--no-cache-dir", "-d"])
                .arg(run_dir.join(format!("{out}-{round}")))
                .args(["--index-url", index])
                .args(&names);
            timed(&mut cmd, "pip download")
        };
        let via_airlock = download(
            &format!("{}/pypi/root/mirror/simple/", mirror.base),
            "dl-airlock",
        )?;
        drop(mirror);
        let direct = download(&format!("{}/simple/", nginx.base), "dl-nginx")?;
        for (target, seconds) in [("airlock", via_airlock), ("nginx-tuned", direct)] {
            let row = Timed {
                scenario: "pip-download".into(),
                target: target.into(),
                seconds,
                bytes: fx.download.iter().map(|w| file_len(&w.path)).sum(),
                files: DOWNLOAD_WHEELS as u64,
                peak_rss_mib: 0.0,
            };
            raw.push_str(&row.json());
            timed_rows.push(row);
        }
        eprintln!("bench: pip download round {round} done");
    }
    drop(nginx);

    let (report, checks) = report(&rows, &timed_rows);
    Ok(Section {
        report,
        checks,
        raw,
    })
}

/// Saves the page airlock answers at `url` (HTML, as wrk asks) as `dir/index.html`
/// for nginx.
fn save_rendered(url: &str, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    run_quiet(
        Command::new("curl")
            .args(["-sSf", "-o"])
            .arg(dir.join("index.html"))
            .arg(url),
        "curl (saving a rendered page)",
    )
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn report(rows: &[super::Row], timed: &[Timed]) -> (String, Vec<Check>) {
    let mut out = table(rows);
    out.push('\n');
    let mut checks = Vec::new();
    let rel = |scenario: &str, conc: u32, peer: &str, f: &dyn Fn(&super::Row) -> f64| match (
        find(rows, scenario, conc, "airlock"),
        find(rows, scenario, conc, peer),
    ) {
        (Some(a), Some(p)) => ratio(f(a), f(p)),
        _ => 0.0,
    };
    let rps = |r: &super::Row| r.load.rps;
    for conc in [1, 16, 64] {
        if let Some(line) = ratio_line(rows, "project-page", conc, &["devpi", "nginx-tuned"]) {
            let _ = writeln!(out, "{line}");
        }
        let devpi = rel("project-page", conc, "devpi", &rps);
        let nginx = rel("project-page", conc, "nginx-tuned", &rps);
        checks.push(Check::new(
            format!("project page (200 files) c={conc}: req/s >= 10x devpi ({devpi:.1}x)"),
            devpi >= 10.0,
        ));
        checks.push(Check::new(
            format!(
                "project page (200 files) c={conc}: req/s >= 0.3x nginx pre-rendered ({nginx:.2}x)"
            ),
            nginx >= 0.3,
        ));
    }
    if let Some(a) = find(rows, "project-page", 64, "airlock") {
        checks.push(Check::new(
            format!("project page c=64: p99 <= 5 ms ({:.2} ms)", a.load.p99_ms),
            a.load.p99_ms <= 5.0,
        ));
    }
    for conc in [1, 16] {
        if let Some(line) = ratio_line(rows, "root-page", conc, &["pypiserver", "nginx-tuned"]) {
            let _ = writeln!(out, "{line}");
        }
        let pypiserver = rel("root-page", conc, "pypiserver", &rps);
        checks.push(Check::new(
            format!(
                "root page (2,000 projects) c={conc}: req/s >= 20x pypiserver ({pypiserver:.1}x)"
            ),
            pypiserver >= 20.0,
        ));
    }
    for conc in [1, 16] {
        if let Some(line) = ratio_line(rows, "wheel-5mb", conc, &["nginx-tuned"]) {
            let _ = writeln!(out, "{line}");
        }
        let mbps = rel("wheel-5mb", conc, "nginx-tuned", &|r| r.load.mbps);
        checks.push(Check::new(
            format!("5 MB wheel GET c={conc}: MB/s >= 0.9x nginx ({mbps:.2}x)"),
            mbps >= 0.9,
        ));
    }
    let secs = |scenario: &str, target: &str| median_secs(timed, scenario, target);
    let (via, direct) = (
        secs("pip-download", "airlock"),
        secs("pip-download", "nginx-tuned"),
    );
    let _ = writeln!(
        out,
        "\npip download of {DOWNLOAD_WHEELS} wheels, cold: through an airlock mirror of nginx {via:.2}s, from nginx directly {direct:.2}s"
    );
    checks.push(Check::new(
        format!(
            "cold pip download of {DOWNLOAD_WHEELS} wheels through a mirror: <= 1.5x pip against nginx ({:.2}x)",
            ratio(via, direct)
        ),
        via > 0.0 && ratio(via, direct) <= 1.5,
    ));
    let (up_airlock, up_devpi) = (secs("upload", "airlock"), secs("upload", "devpi"));
    let _ = writeln!(
        out,
        "twine upload of {PAGE_FILES} wheels: airlock {up_airlock:.2}s ({:.1} files/s), devpi {up_devpi:.2}s ({:.1} files/s)",
        ratio(PAGE_FILES as f64, up_airlock),
        ratio(PAGE_FILES as f64, up_devpi)
    );
    let speedup = ratio(up_devpi, up_airlock);
    checks.push(Check::new(
        format!("twine upload of {PAGE_FILES} wheels: throughput >= 2x devpi's ({speedup:.2}x)"),
        speedup >= 2.0,
    ));
    (out, checks)
}
