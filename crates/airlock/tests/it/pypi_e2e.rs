//! The hosted Python index against the real clients: `twine upload` and
//! `uv publish` in, `pip install` (also with `--require-hashes`) and
//! `uv pip install` out, each into a fresh venv.

use crate::support::pyclient::{self, command, fresh_venv, output, python, run_ok, tool};
use crate::support::pyfixture::{dists, sha256_file, Dist};
use crate::support::scratch;
use crate::support::server::{assert_fsck, http, Airlock};

#[test]
fn pypi_twine_and_uv_publish_then_pip_and_uv_install() {
    let dir = scratch();
    let work = dir.path();
    let dist_dir = work.join("dist");
    std::fs::create_dir_all(&dist_dir).expect("dist dir");
    let [foo, dep1, dep2] = <[Dist; 3]>::try_from(dists()).ok().expect("three dists");
    let foo_whl = foo.wheel(&dist_dir);
    let foo_sdist = foo.sdist(&dist_dir);
    let dep1_whl = dep1.wheel(&dist_dir);
    let dep2_whl = dep2.wheel(&dist_dir);

    let data = work.join("data");
    let airlock = Airlock::start(&data, &pyclient::hosted_config(), &[]);
    let upload_url = airlock.url("/pypi/root/dev/");
    let index_url = airlock.url("/pypi/root/dev/simple/");

    let twine = |files: &[&std::path::Path]| {
        let mut cmd = command(&tool("twine"), work);
        cmd.args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--verbose",
        ])
        .args(["--repository-url", &upload_url, "-u", "ci", "-p", "secret"])
        .args(files);
        output(&mut cmd)
    };
    let out = twine(&[&foo_whl, &foo_sdist, &dep2_whl]);
    assert!(
        out.status.success(),
        "twine upload: {}{}\nairlock log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        airlock.log()
    );
    run_ok(
        command(&tool("uv"), work)
            .args(["publish", "--publish-url", &upload_url])
            .args(["--username", "ci", "--password", "secret"])
            .arg(&dep1_whl),
    );
    // An identical re-upload succeeds and changes nothing.
    assert!(twine(&[&foo_whl]).status.success(), "identical re-upload");

    // Other bytes under a taken filename: 409, and twine fails.
    let other_dir = work.join("other");
    std::fs::create_dir_all(&other_dir).expect("other dir");
    let changed = Dist {
        requires: &[],
        ..dists().remove(0)
    }
    .wheel(&other_dir);
    let out = twine(&[&changed]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success() && text.contains("409"), "{text}");

    // pip, from a fresh venv, with no cache: the name is normalized by pip, the
    // dependency resolved, and airlock-dep 2.0 (Requires-Python >=3.99) skipped.
    // `--uploaded-prior-to` is a hard error on a file without an upload time.
    let py = fresh_venv(&work.join("venv-pip"));
    run_ok(command(&tool("pip"), work).arg("--python").arg(&py).args([
        "install",
        "--no-cache-dir",
        "--uploaded-prior-to",
        "2999-01-01T00:00:00Z",
        "--index-url",
        &index_url,
        "Foo.Bar_baz",
    ]));
    let check = "import foo_bar_baz, airlock_dep; print(foo_bar_baz.VERSION, airlock_dep.VERSION)";
    assert_eq!(python(&py, check), "1.0+local 1.0");

    // pip with --require-hashes: every file's hash must match what is served.
    let requirements = work.join("requirements.txt");
    std::fs::write(
        &requirements,
        format!(
            "foo-bar-baz==1.0+local --hash=sha256:{}\nairlock-dep==1.0 --hash=sha256:{}\n",
            sha256_file(&foo_whl),
            sha256_file(&dep1_whl)
        ),
    )
    .expect("requirements");
    let py = fresh_venv(&work.join("venv-hashes"));
    run_ok(
        command(&tool("pip"), work)
            .arg("--python")
            .arg(&py)
            .args([
                "install",
                "--no-cache-dir",
                "--require-hashes",
                "--index-url",
                &index_url,
            ])
            .arg("-r")
            .arg(&requirements),
    );
    assert_eq!(python(&py, check), "1.0+local 1.0");

    // uv, from a fresh venv.
    let py = fresh_venv(&work.join("venv-uv"));
    run_ok(
        command(&tool("uv"), work)
            .args(["pip", "install", "--no-cache", "--python"])
            .arg(&py)
            .args(["--index-url", &index_url, "Foo.Bar_baz"]),
    );
    assert_eq!(python(&py, check), "1.0+local 1.0");

    // uv's --exclude-newer reads upload-time: nothing was uploaded before 2001.
    let py = fresh_venv(&work.join("venv-uv-old"));
    let out = output(
        command(&tool("uv"), work)
            .args(["pip", "install", "--no-cache", "--python"])
            .arg(&py)
            .args(["--exclude-newer", "2001-01-01T00:00:00Z"])
            .args(["--index-url", &index_url, "airlock-dep"]),
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("airlock-dep` was filtered by `exclude-newer`"),
        "{text}"
    );

    // Yanked (PEP 592): pip skips the file unless pinned, and warns with the reason.
    let yank = http()
        .put(airlock.url(&format!("/pypi/root/dev/yanked/{}", dep1.wheel_name())))
        .basic_auth("ci", Some("secret"))
        .body("broken build")
        .send()
        .expect("yank");
    assert_eq!(yank.status(), 200);
    let pip_dep = |venv: &str, requirement: &str| {
        let py = fresh_venv(&work.join(venv));
        output(command(&tool("pip"), work).arg("--python").arg(&py).args([
            "install",
            "--no-cache-dir",
            "--index-url",
            &index_url,
            requirement,
        ]))
    };
    let out = pip_dep("venv-unpinned", "airlock-dep");
    assert!(!out.status.success(), "only a yanked file fits");
    let out = pip_dep("venv-pinned", "airlock-dep==1.0");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("broken build"),
        "{text}"
    );

    drop(airlock);
    assert_fsck(&data, &[], "0 errors");
}
