//! The command line: configuration layering, password hashes, the config dump.

use crate::support::scratch;
use crate::support::server::{binary, write_config, Airlock};
use std::io::Write as _;
use std::process::{Command, Stdio};

#[test]
fn config_layers_and_the_air_gap_switch() {
    let w = scratch();
    let data = w.path().join("data");
    let config = write_config(
        &data,
        "mode = \"online\"\n[go]\nmode = \"online\"\nupstream = \"http://127.0.0.1:9\"\n",
    );
    // The file is named by AIRLOCK_CONFIG, a key is overridden by the environment,
    // and --mode on the command line wins over the [go] section's own mode.
    let out = Command::new(binary())
        .args(["config", "--data-dir"])
        .arg(&data)
        .env("AIRLOCK_CONFIG", &config)
        .env("AIRLOCK_UPSTREAM__RETRIES", "7")
        .output()
        .expect("airlock config");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("upstream = \"http://127.0.0.1:9\""), "{text}");
    assert!(text.contains("retries = 7"), "{text}");

    let airlock = Airlock::start(
        &data,
        &std::fs::read_to_string(&config).expect("config"),
        &["--mode", "offline"],
    );
    let r = crate::support::server::http()
        .get(airlock.url("/go/example.com/m/@v/v1.0.0.mod"))
        .send()
        .expect("request");
    assert_eq!(r.status(), 404);
    assert!(r.text().expect("body").contains("offline mode"));

    // Unknown keys are refused with the key's name.
    let bad = write_config(&w.path().join("bad"), "lisen = \"127.0.0.1:1\"\n");
    let out = Command::new(binary())
        .arg("config")
        .arg("-c")
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lisen"));
}

/// What Kubernetes injects into every pod of a namespace with a Service named
/// `airlock` (the service's own port is 8080).
const KUBERNETES_SERVICE_VARIABLES: &[(&str, &str)] = &[
    ("AIRLOCK_SERVICE_HOST", "10.96.12.34"),
    ("AIRLOCK_SERVICE_PORT", "8080"),
    ("AIRLOCK_SERVICE_PORT_HTTP", "8080"),
    ("AIRLOCK_PORT", "tcp://10.96.12.34:8080"),
    ("AIRLOCK_PORT_8080_TCP", "tcp://10.96.12.34:8080"),
    ("AIRLOCK_PORT_8080_TCP_PROTO", "tcp"),
    ("AIRLOCK_PORT_8080_TCP_PORT", "8080"),
    ("AIRLOCK_PORT_8080_TCP_ADDR", "10.96.12.34"),
];

#[test]
fn a_pod_with_kubernetes_service_variables_starts_and_says_what_it_ignored() {
    let w = scratch();
    let data = w.path().join("data");
    let mut env = KUBERNETES_SERVICE_VARIABLES.to_vec();
    // A real key still works beside them, and an unknown nested one is ignored too.
    env.push(("AIRLOCK_GO__METADATA_TTL", "3s"));
    env.push(("AIRLOCK_GO__NO_SUCH_KEY", "1"));
    let airlock = Airlock::start_with_env(&data, "", &["--mode", "offline"], &env);
    let r = crate::support::server::http()
        .get(airlock.url("/healthz"))
        .send()
        .expect("request");
    assert_eq!(r.status(), 200);
    let log = airlock.log();
    let warning = log
        .lines()
        .find(|l| l.contains("ignoring AIRLOCK_ environment variables"))
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    for (name, _) in KUBERNETES_SERVICE_VARIABLES {
        assert!(warning.contains(name), "{name} not in {warning}");
    }
    assert!(warning.contains("AIRLOCK_GO__NO_SUCH_KEY"), "{warning}");
    assert!(!warning.contains("METADATA_TTL"), "{warning}");

    // `airlock config` shows the real key applied, and a bad value for a real
    // key is still an error that names it.
    let out = Command::new(binary())
        .args(["config", "--data-dir"])
        .arg(&data)
        .envs(env.iter().copied())
        .output()
        .expect("airlock config");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("metadata_ttl = \"3s\""), "{text}");
    let out = Command::new(binary())
        .args(["config", "--data-dir"])
        .arg(&data)
        .env("AIRLOCK_GO__PREFETCH", "sometimes")
        .output()
        .expect("airlock config");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GO.PREFETCH"));
}

#[test]
fn hash_password_prints_an_argon2_hash() {
    let mut child = Command::new(binary())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"s3cret\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("$argon2id$"));
}
