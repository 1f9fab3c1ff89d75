//! Settings shared by every protocol: the mode and the outbound HTTP client.
//!
//! The binary composes these with each protocol's own section into one TOML file.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Whether a protocol may fetch from its upstreams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Pull-through: a miss is fetched from the upstream, stored, then served.
    #[default]
    Online,
    /// Serve only what is stored; never open a connection to an upstream.
    Offline,
}

/// How airlock talks to upstream servers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSettings {
    /// Time allowed to open a TCP/TLS connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Total time allowed for one fetch, body included. `go` has no timeout of its
    /// own, so a dripping upstream would otherwise hold clients forever.
    #[serde(with = "humantime_serde")]
    pub fetch_timeout: Duration,
    /// Extra attempts after a connection failure, a 429 or a 5xx (never once the body has started).
    pub retries: u32,
    /// Outbound HTTP proxy: unset uses the usual `HTTPS_PROXY`/`NO_PROXY` variables,
    /// `"none"` disables proxies, anything else is the proxy URL.
    pub proxy: Option<String>,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            connect_timeout: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(600),
            retries: 2,
            proxy: None,
        }
    }
}
