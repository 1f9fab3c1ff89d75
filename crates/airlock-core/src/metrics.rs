//! Prometheus metrics, labelled by protocol.

use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};

/// The counters every protocol reports into.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    response_bytes: IntCounterVec,
    cache: IntCounterVec,
    upstream_fetches: IntCounterVec,
    upstream_bytes: IntCounterVec,
    security_events: IntCounterVec,
}

/// Outcome of a cache lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheResult {
    /// Served from the store.
    Hit,
    /// Not stored (fetched from upstream, or not found offline).
    Miss,
}

impl CacheResult {
    /// The label / header value: `HIT` or `MISS`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "HIT",
            CacheResult::Miss => "MISS",
        }
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter =
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    registry
        .register(Box::new(counter.clone()))
        .expect("metric registered once");
    counter
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        Metrics {
            requests: counter(
                &registry,
                "airlock_http_requests_total",
                "HTTP requests served",
                &["protocol", "status"],
            ),
            response_bytes: counter(
                &registry,
                "airlock_http_response_bytes_total",
                "Response body bytes",
                &["protocol"],
            ),
            cache: counter(
                &registry,
                "airlock_cache_lookups_total",
                "Artifact lookups by result",
                &["protocol", "result"],
            ),
            upstream_fetches: counter(
                &registry,
                "airlock_upstream_fetches_total",
                "Fetches from upstreams by outcome",
                &["protocol", "outcome"],
            ),
            upstream_bytes: counter(
                &registry,
                "airlock_upstream_bytes_total",
                "Bytes fetched from upstreams",
                &["protocol"],
            ),
            security_events: counter(
                &registry,
                "airlock_security_events_total",
                "Upstream content refused as forged (checksum mismatches, forked checksum databases)",
                &["protocol", "event"],
            ),
            registry,
        }
    }
}

impl Metrics {
    /// Counts one served request.
    pub fn request(&self, protocol: &str, status: u16, bytes: u64) {
        self.requests
            .with_label_values(&[protocol, &status.to_string()])
            .inc();
        self.response_bytes
            .with_label_values(&[protocol])
            .inc_by(bytes);
    }

    /// Counts one cache lookup.
    pub fn cache(&self, protocol: &str, result: CacheResult) {
        let label = match result {
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
        };
        self.cache.with_label_values(&[protocol, label]).inc();
    }

    /// Counts one upstream fetch: `outcome` is `ok`, `not_found` or `error`.
    pub fn upstream(&self, protocol: &str, outcome: &str, bytes: u64) {
        self.upstream_fetches
            .with_label_values(&[protocol, outcome])
            .inc();
        self.upstream_bytes
            .with_label_values(&[protocol])
            .inc_by(bytes);
    }

    /// Counts one security event: upstream content that a signed record
    /// contradicts (`event` names what, e.g. `checksum_mismatch`).
    pub fn security_event(&self, protocol: &str, event: &str) {
        self.security_events
            .with_label_values(&[protocol, event])
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding to a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}
