//! RPM fixtures built with the real `rpmbuild`, repodata made by the real
//! `createrepo_c`, and a parsed view of repodata XML for field-by-field
//! comparison. A missing tool fails the test (CI installs them, `.ci/run`).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `hello-airlock` needs `airlock-lib >= 2.0` and `/bin/sh` (its `%pre` and
/// its script's shebang), provides `airlock-hello`, has files in `/usr/bin`,
/// `/etc` (a `%config`), a doc, a directory, a ghost and a two-entry
/// changelog. `airlock-lib` has an epoch and is over 2 MiB. `airlock-true` is a binary
/// package. `fake-sh` provides `/bin/sh`, which an empty installroot otherwise
/// lacks.
const SPECS: &[(&str, &str)] = &[
    (
        "hello-airlock",
        r#"Name:           hello-airlock
Version:        1.0
Release:        1%{?dist}
Summary:        Test package for airlock
License:        MIT
URL:            https://example.invalid/hello
BuildArch:      noarch
Provides:       airlock-hello = %{version}-%{release}
Requires:       airlock-lib >= 2.0
Requires(pre):  /bin/sh
Recommends:     airlock-extra
Conflicts:      hello-old < 0.5
Obsoletes:      hello-legacy <= 0.9

%description
A tiny test package used as a fixture: "quotes" & <angles>.

%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/hello %{buildroot}/usr/share/doc/hello-airlock %{buildroot}/var/lib/hello
printf '#!/bin/sh\necho hello\n' > %{buildroot}/usr/bin/hello-airlock
chmod 755 %{buildroot}/usr/bin/hello-airlock
echo 'greeting=hi' > %{buildroot}/etc/hello/hello.conf
echo 'readme' > %{buildroot}/usr/share/doc/hello-airlock/README

%pre
exit 0

%files
%dir /etc/hello
%config(noreplace) /etc/hello/hello.conf
/usr/bin/hello-airlock
%doc /usr/share/doc/hello-airlock/README
%dir /var/lib/hello
%ghost /var/lib/hello/state

%changelog
* Mon Jan 06 2025 Airlock Test <test@example.invalid> - 1.0-1
- Initial package
* Sun Jan 05 2025 Airlock Test <test@example.invalid> - 0.9-1
- Pre-release
"#,
    ),
    (
        "airlock-lib",
        r#"Name:           airlock-lib
Epoch:          1
Version:        2.1
Release:        3
Summary:        Library for hello-airlock
License:        MIT
BuildArch:      noarch

%description
The library.

# 2 MiB that do not compress, so the package is served in several chunks.
%define _binary_payload w1.gzdio

%install
mkdir -p %{buildroot}/usr/share/airlock-lib
echo data > %{buildroot}/usr/share/airlock-lib/data.txt
head -c 2097152 /dev/urandom > %{buildroot}/usr/share/airlock-lib/noise.bin

%files
/usr/share/airlock-lib
"#,
    ),
    // A binary package: the host's `true` brings automatic `libc.so.6(GLIBC_…)`
    // requires, of which createrepo_c keeps only the newest.
    (
        "airlock-true",
        r#"Name:           airlock-true
Version:        0.1
Release:        1
Summary:        A binary for the dependency generator
License:        MIT

%description
The host's true(1).

%install
mkdir -p %{buildroot}/usr/bin
cp /usr/bin/true %{buildroot}/usr/bin/airlock-true

%files
/usr/bin/airlock-true
"#,
    ),
    (
        "fake-sh",
        r#"Name:           fake-sh
Version:        1
Release:        1
Summary:        Provides /bin/sh for installroots
License:        MIT
BuildArch:      noarch
Provides:       /bin/sh

%description
Nothing but a capability.

%files
"#,
    ),
];

/// Builds the fixture RPMs under `dir`; returns their paths (sorted by name).
pub fn build_rpms(dir: &Path) -> Vec<PathBuf> {
    for (name, spec) in SPECS {
        rpmbuild(dir, name, spec);
    }
    built_rpms(dir)
}

/// Builds `count` packages `many-NNN` 1.0 from one spec under `dir`, each with
/// one file; returns their paths (sorted by name).
pub fn build_many_rpms(dir: &Path, count: usize) -> Vec<PathBuf> {
    let mut spec = String::from(
        "Name: many\nVersion: 1.0\nRelease: 1\nSummary: many packages\nLicense: MIT\n\
         BuildArch: noarch\n\n%description\nMany packages.\n\n",
    );
    let names: Vec<String> = (0..count).map(|i| format!("many-{i:03}")).collect();
    for name in &names {
        spec.push_str(&format!(
            "%package -n {name}\nSummary: {name}\n\n%description -n {name}\n{name}.\n\n\
             %files -n {name}\n/usr/share/many/{name}\n\n"
        ));
    }
    spec.push_str(&format!(
        "%install\nmkdir -p %{{buildroot}}/usr/share/many\n\
         for n in {}; do echo $n > %{{buildroot}}/usr/share/many/$n; done\n",
        names.join(" ")
    ));
    rpmbuild(dir, "many", &spec);
    built_rpms(dir)
}

/// `rpmbuild -bb` of `spec` in the build tree `dir/rpmbuild`.
fn rpmbuild(dir: &Path, name: &str, spec: &str) {
    let top = dir.join("rpmbuild");
    std::fs::create_dir_all(top.join("SPECS")).expect("SPECS");
    let path = top.join("SPECS").join(format!("{name}.spec"));
    std::fs::write(&path, spec).expect("spec");
    let mut command = Command::new("rpmbuild");
    command
        .arg("--quiet")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args([
            "--define",
            "dist .el10",
            "--define",
            "_build_id_links none",
            "--define",
            "debug_package %{nil}",
            "-bb",
        ])
        .arg(&path)
        .env("LC_ALL", "C");
    required_tool(command, &format!("rpmbuild {name}"), "the rpm package");
}

/// Runs a tool the tests cannot do without; fails (never skips) when it is
/// missing or fails. `package` is the Debian package that brings it.
fn required_tool(mut command: Command, what: &str, package: &str) {
    let out = command.output().unwrap_or_else(|e| {
        panic!("{what}: the tool is missing ({e}): install {package}, as .ci/run does")
    });
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The packages built in `dir/rpmbuild`, sorted by file name.
fn built_rpms(dir: &Path) -> Vec<PathBuf> {
    let mut rpms: Vec<PathBuf> = std::fs::read_dir(dir.join("rpmbuild").join("RPMS"))
        .expect("RPMS")
        .flat_map(|arch| std::fs::read_dir(arch.expect("arch dir").path()).expect("RPMS/<arch>"))
        .map(|e| e.expect("entry").path())
        .collect();
    rpms.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    rpms
}

/// Runs `createrepo_c` over a directory holding `rpms`; returns the directory.
pub fn createrepo(dir: &Path, rpms: &[PathBuf]) -> PathBuf {
    let repo = dir.join("createrepo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    for rpm in rpms {
        std::fs::copy(rpm, repo.join(rpm.file_name().expect("name"))).expect("copy");
    }
    let mut command = Command::new("createrepo_c");
    command.args(["--quiet", "--no-database"]).arg(&repo);
    required_tool(command, "createrepo_c", "createrepo-c");
    repo
}

/// The `location href` of a metadata type in repomd.xml.
pub fn repomd_href(repomd: &str, kind: &str) -> String {
    let record = repomd
        .split("<data ")
        .find(|d| d.starts_with(&format!("type=\"{kind}\"")))
        .unwrap_or_else(|| panic!("no {kind} record in\n{repomd}"));
    let start = record.find("href=\"").expect("href") + 6;
    let len = record[start..].find('"').expect("href end");
    record[start..start + len].to_owned()
}

/// Gunzips bytes.
pub fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("gzip");
    text
}

/// An XML document as a list of (element path, attributes sorted, trimmed
/// text) items, one per element and per text node, in document order: equal
/// lists mean equal fields, whatever the whitespace and attribute order.
/// Attributes named in `ignore` (as `element@attribute`) are left out.
pub fn fields(xml: &str, ignore: &[&str]) -> Vec<String> {
    use quick_xml::events::{BytesStart, Event};
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    // Text of the current element, gathered across entity references.
    let mut text = String::new();
    let flush = |text: &mut String, path: &[String], out: &mut Vec<String>| {
        let trimmed = text.trim();
        if !trimmed.is_empty() {
            out.push(format!("{} = {trimmed:?}", path.join("/")));
        }
        text.clear();
    };
    let element = |e: &BytesStart<'_>, path: &mut Vec<String>, out: &mut Vec<String>| {
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let mut attrs: Vec<String> = e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                let value = a.unescape_value().expect("value").into_owned();
                (key, value)
            })
            .filter(|(k, _)| !ignore.contains(&format!("{name}@{k}").as_str()))
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        attrs.sort();
        path.push(name);
        out.push(format!("{} [{}]", path.join("/"), attrs.join(" ")));
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                flush(&mut text, &path, &mut out);
                element(&e, &mut path, &mut out);
            }
            Event::Empty(e) => {
                flush(&mut text, &path, &mut out);
                element(&e, &mut path, &mut out);
                path.pop();
            }
            Event::End(_) => {
                flush(&mut text, &path, &mut out);
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.decode().expect("text")),
            Event::GeneralRef(r) => {
                let name = r.decode().expect("reference").into_owned();
                text.push_str(match name.as_str() {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                });
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}
