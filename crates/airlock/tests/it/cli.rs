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
