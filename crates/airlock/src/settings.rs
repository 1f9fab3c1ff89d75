//! The configuration file, layered: embedded defaults < TOML file <
//! `AIRLOCK_*` environment variables < command-line flags.

use airlock_core::auth::User;
use airlock_core::config::UpstreamSettings;
use airlock_core::Mode;
use airlock_go::GoSettings;
use airlock_oci::OciSettings;
use airlock_pypi::PypiSettings;
use airlock_yum::YumSettings;
use anyhow::Context as _;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything airlock can be told. `etc/airlock.toml` documents every field.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address and port to listen on; port 0 picks a free one (printed at startup).
    pub listen: String,
    /// Where the index (`airlock.db`), the blobs (`blobs/`) and temp files (`tmp/`) live.
    pub data_dir: PathBuf,
    /// `online` (pull-through) or `offline` (serve only what is stored); each
    /// protocol section may override it.
    pub mode: Mode,
    /// Log filter, e.g. `info` or `info,airlock_go=debug`.
    pub log: String,
    /// The outbound HTTP client.
    pub upstream: UpstreamSettings,
    /// Users allowed to write (upload/push); reads are anonymous.
    pub users: Vec<User>,
    /// The Go module proxy, mounted at `/go`.
    pub go: GoSettings,
    /// The Python package index, mounted at `/pypi`.
    pub pypi: PypiSettings,
    /// The OCI registry, mounted at `/v2`.
    pub oci: OciSettings,
    /// Garbage collection of blobs that nothing references (`airlock gc`).
    pub gc: GcSettings,
    /// YUM repositories, mounted at `/yum`.
    pub yum: YumSettings,
    /// `AIRLOCK_*` variables that name no key and were ignored (not a setting:
    /// filled by [`Settings::load`] so that the server can log them).
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            mode: Mode::Online,
            log: "info".into(),
            upstream: UpstreamSettings::default(),
            users: Vec::new(),
            go: GoSettings::default(),
            pypi: PypiSettings::default(),
            oci: OciSettings::default(),
            gc: GcSettings::default(),
            yum: YumSettings::default(),
            ignored_env: Vec::new(),
        }
    }
}

/// The `[gc]` section: garbage collection, for every protocol.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcSettings {
    /// Blobs and rows younger than this are never collected: it covers pushes
    /// in progress (layers come before their manifest) and any write between
    /// a blob's commit and its row.
    #[serde(with = "humantime_serde")]
    pub grace: std::time::Duration,
    /// Also delete OCI manifests that no tag reaches (not tagged, not the child
    /// of a tagged index, not a signature or SBOM of a reached manifest).
    pub delete_untagged_manifests: bool,
    /// `airlock serve` collects garbage this often ("0s": never; run `airlock gc`).
    #[serde(with = "humantime_serde")]
    pub interval: std::time::Duration,
}

impl Default for GcSettings {
    fn default() -> Self {
        GcSettings {
            grace: std::time::Duration::from_secs(3600),
            delete_untagged_manifests: false,
            interval: std::time::Duration::ZERO,
        }
    }
}

/// The `AIRLOCK_*` environment as a layer: `AIRLOCK_GO__UPSTREAM` sets `go.upstream`.
fn environment() -> Env {
    Env::prefixed("AIRLOCK_")
        // AIRLOCK_CONFIG names the file itself (read by the CLI), not a key.
        .filter(|key| !key.as_str().eq_ignore_ascii_case("config"))
        .split("__")
}

/// The keys (dotted, lower case) of `AIRLOCK_*` variables that name no setting.
///
/// Unknown keys in the TOML file are refused, but the environment is not the
/// operator's alone: Kubernetes injects `AIRLOCK_PORT`, `AIRLOCK_SERVICE_HOST`,
/// `AIRLOCK_PORT_8080_TCP_ADDR`, … into every pod of a namespace that has a
/// Service named `airlock`, and refusing them would crash-loop the daemon there.
/// Each variable is tried alone over the defaults: one that fails only as an
/// unknown field is left out. One that names a real key with a bad value is
/// kept, so that its error is reported.
fn unknown_environment() -> Vec<String> {
    let mut unknown: Vec<String> = environment()
        .iter()
        .map(|(key, _)| key.as_str().to_owned())
        .filter(|key| {
            let alone = key.clone();
            let tried = Figment::from(Serialized::defaults(Settings::default()))
                .merge(environment().filter(move |k| k.as_str().eq_ignore_ascii_case(&alone)))
                .extract::<Settings>();
            match tried {
                Ok(_) => false,
                Err(e) => e
                    .into_iter()
                    .all(|e| matches!(e.kind, figment::error::Kind::UnknownField(..))),
            }
        })
        .collect();
    unknown.sort();
    unknown
}

/// `go.upstream` → `AIRLOCK_GO__UPSTREAM`.
fn variable_name(key: &str) -> String {
    format!("AIRLOCK_{}", key.to_uppercase().replace('.', "__"))
}

/// Values given on the command line, which win over everything else.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    /// `--listen`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `--data-dir`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--mode`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

impl Settings {
    /// Loads the layers. A named config file must exist.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.is_file(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        let ignored = unknown_environment();
        let known = ignored.clone();
        let mut settings: Settings = figment
            .merge(
                environment()
                    .filter(move |key| !known.iter().any(|k| k.eq_ignore_ascii_case(key.as_str()))),
            )
            .merge(Serialized::defaults(overrides))
            .extract()
            .context("invalid configuration")?;
        settings
            .go
            .resolve()
            .map_err(anyhow::Error::msg)
            .context("invalid [go] section")?;
        settings
            .pypi
            .validate()
            .map_err(anyhow::Error::msg)
            .context("invalid [pypi] section")?;
        settings
            .oci
            .check()
            .map_err(anyhow::Error::msg)
            .context("invalid [oci] section")?;
        settings
            .yum
            .check()
            .map_err(anyhow::Error::msg)
            .context("invalid [yum] section")?;
        if overrides.mode.is_some() {
            // `--mode offline` on the command line is the air-gap switch: it wins
            // over every protocol's own mode.
            settings.go.mode = None;
            settings.pypi.mode = None;
            settings.oci.mode = None;
            settings.yum.mode = None;
        }
        settings.ignored_env = ignored.iter().map(|key| variable_name(key)).collect();
        Ok(settings)
    }

    /// The mode the Go proxy runs in.
    pub fn go_mode(&self) -> Mode {
        self.go.mode.unwrap_or(self.mode)
    }

    /// The mode the YUM mirrors run in.
    pub fn yum_mode(&self) -> Mode {
        self.yum.mode.unwrap_or(self.mode)
    }

    /// The mode the OCI registry runs in.
    pub fn oci_mode(&self) -> Mode {
        self.oci.mode.unwrap_or(self.mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_config_parses_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/airlock.toml");
        let loaded: Settings = Figment::new()
            .merge(Toml::file(&path))
            .extract()
            .expect("etc/airlock.toml parses");
        let defaults = toml::to_string(&Settings::default()).expect("serialise");
        assert_eq!(toml::to_string(&loaded).expect("serialise"), defaults);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string("lisen = \"x\""));
        assert!(figment.extract::<Settings>().is_err());
    }
}
