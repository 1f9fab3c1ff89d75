//! Prometheus metrics, labelled by protocol (and, for the repositories a
//! protocol's config declares, by repository: [`RepositoryCounters`]).
//!
//! The counters counted on every request (requests, response bytes, cache
//! lookups) are resolved to their labelled series once, on first use, and kept
//! in [`Handles`]: counting is then one atomic add instead of hashing the label
//! values, a map lookup and formatting the status code. A series still appears
//! in `/metrics` only once it was counted, as with `with_label_values`.

use prometheus::{Encoder, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};
use std::sync::{Arc, OnceLock};

/// The counters every protocol reports into.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    response_bytes: IntCounterVec,
    cache: IntCounterVec,
    upstream_fetches: IntCounterVec,
    upstream_bytes: IntCounterVec,
    handles: Arc<Handles>,
    security_events: IntCounterVec,
    repository_requests: IntCounterVec,
    repository_bytes: IntCounterVec,
    repository_cache: IntCounterVec,
}

/// One repository's counters (a Python index, a registry's upstream…),
/// resolved once from names the config declares, so the series stay few.
/// A protocol puts a clone in its response's extensions; the request-log
/// middleware counts the request there ([`RepositoryCounters::count`]).
#[derive(Clone, Debug)]
pub struct RepositoryCounters {
    requests: IntCounter,
    bytes: IntCounter,
    hits: IntCounter,
    misses: IntCounter,
}

impl RepositoryCounters {
    /// Counts one request, its response bytes and its cache lookup, if any.
    pub fn count(&self, bytes: u64, cache: Option<CacheResult>) {
        self.requests.inc();
        self.bytes.inc_by(bytes);
        match cache {
            Some(CacheResult::Hit) => self.hits.inc(),
            Some(CacheResult::Miss) => self.misses.inc(),
            None => {}
        }
    }

    /// Requests counted so far.
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }

    /// Response bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    /// Cache hits and misses counted so far.
    pub fn cache(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }
}

/// Protocols whose per-request series are kept resolved; more than any server
/// mounts (any further ones are counted by label lookup).
const HANDLE_SLOTS: usize = 16;

/// HTTP status codes 100..=599 have a resolved series each.
const STATUSES: std::ops::RangeInclusive<u16> = 100..=599;

/// Resolved series, one slot per protocol, claimed by the first request counted
/// for it. Lookups compare a handful of short names: no lock, no allocation.
#[derive(Debug)]
struct Handles {
    slots: [OnceLock<ProtocolHandles>; HANDLE_SLOTS],
}

/// One protocol's resolved series, each filled on first use.
#[derive(Debug)]
struct ProtocolHandles {
    protocol: String,
    by_status: Box<[OnceLock<IntCounter>]>,
    response_bytes: OnceLock<IntCounter>,
    cache_hit: OnceLock<IntCounter>,
    cache_miss: OnceLock<IntCounter>,
}

impl Handles {
    fn new() -> Self {
        Handles {
            slots: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The slot of `protocol`, claiming a free one the first time.
    fn of(&self, protocol: &str) -> Option<&ProtocolHandles> {
        for slot in &self.slots {
            let handles = slot.get_or_init(|| ProtocolHandles {
                protocol: protocol.to_owned(),
                by_status: STATUSES.map(|_| OnceLock::new()).collect(),
                response_bytes: OnceLock::new(),
                cache_hit: OnceLock::new(),
                cache_miss: OnceLock::new(),
            });
            if handles.protocol == protocol {
                return Some(handles);
            }
        }
        None
    }
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
            repository_requests: counter(
                &registry,
                "airlock_repository_requests_total",
                "HTTP requests by repository (Python index, …)",
                &["protocol", "repository"],
            ),
            repository_bytes: counter(
                &registry,
                "airlock_repository_response_bytes_total",
                "Response body bytes by repository",
                &["protocol", "repository"],
            ),
            repository_cache: counter(
                &registry,
                "airlock_repository_cache_lookups_total",
                "Artifact lookups by repository and result",
                &["protocol", "repository", "result"],
            ),
            registry,
            handles: Arc::new(Handles::new()),
        }
    }
}

impl Metrics {
    /// Counts one served request.
    pub fn request(&self, protocol: &str, status: u16, bytes: u64) {
        let by_label = || {
            self.requests
                .with_label_values(&[protocol, &status.to_string()])
        };
        let Some(handles) = self.handles.of(protocol) else {
            by_label().inc();
            self.response_bytes
                .with_label_values(&[protocol])
                .inc_by(bytes);
            return;
        };
        match handles
            .by_status
            .get(usize::from(status.wrapping_sub(*STATUSES.start())))
        {
            Some(slot) => slot.get_or_init(by_label).inc(),
            None => by_label().inc(),
        }
        handles
            .response_bytes
            .get_or_init(|| self.response_bytes.with_label_values(&[protocol]))
            .inc_by(bytes);
    }

    /// Counts one cache lookup.
    pub fn cache(&self, protocol: &str, result: CacheResult) {
        let label = match result {
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
        };
        let by_label = || self.cache.with_label_values(&[protocol, label]);
        let Some(handles) = self.handles.of(protocol) else {
            return by_label().inc();
        };
        let slot = match result {
            CacheResult::Hit => &handles.cache_hit,
            CacheResult::Miss => &handles.cache_miss,
        };
        slot.get_or_init(by_label).inc();
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

    /// The counters of `repository` of `protocol` (its series show from now
    /// on, at zero). Call once per configured repository, not per request.
    pub fn repository(&self, protocol: &str, repository: &str) -> RepositoryCounters {
        let cache = |result| {
            self.repository_cache
                .with_label_values(&[protocol, repository, result])
        };
        RepositoryCounters {
            requests: self
                .repository_requests
                .with_label_values(&[protocol, repository]),
            bytes: self
                .repository_bytes
                .with_label_values(&[protocol, repository]),
            hits: cache("hit"),
            misses: cache("miss"),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_appear_once_counted_and_count_through_handles() {
        let metrics = Metrics::default();
        assert!(!metrics.render().contains("airlock_http_requests_total"));
        metrics.request("go", 200, 10);
        metrics.request("go", 200, 5);
        metrics.request("go", 404, 0);
        metrics.request("server", 200, 3);
        metrics.request("go", 42, 0); // outside the resolved range
        metrics.cache("go", CacheResult::Hit);
        metrics.cache("go", CacheResult::Hit);
        let text = metrics.render();
        for line in [
            "airlock_http_requests_total{protocol=\"go\",status=\"200\"} 2",
            "airlock_http_requests_total{protocol=\"go\",status=\"404\"} 1",
            "airlock_http_requests_total{protocol=\"go\",status=\"42\"} 1",
            "airlock_http_requests_total{protocol=\"server\",status=\"200\"} 1",
            "airlock_http_response_bytes_total{protocol=\"go\"} 15",
            "airlock_http_response_bytes_total{protocol=\"server\"} 3",
            "airlock_cache_lookups_total{protocol=\"go\",result=\"hit\"} 2",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!text.contains("status=\"304\""), "never counted: not shown");
        assert!(
            !text.contains("result=\"miss\""),
            "never counted: not shown"
        );
    }

    #[test]
    fn repositories_are_counted_apart() {
        let metrics = Metrics::default();
        let prod = metrics.repository("pypi", "root/prod");
        let mirror = metrics.repository("pypi", "root/pypi");
        prod.count(10, None);
        mirror.count(5, Some(CacheResult::Hit));
        mirror.count(7, Some(CacheResult::Miss));
        assert_eq!(
            (mirror.requests(), mirror.bytes(), mirror.cache()),
            (2, 12, (1, 1))
        );
        let text = metrics.render();
        for line in [
            "airlock_repository_requests_total{protocol=\"pypi\",repository=\"root/prod\"} 1",
            "airlock_repository_response_bytes_total{protocol=\"pypi\",repository=\"root/pypi\"} 12",
            "airlock_repository_cache_lookups_total{protocol=\"pypi\",repository=\"root/pypi\",result=\"hit\"} 1",
            "airlock_repository_cache_lookups_total{protocol=\"pypi\",repository=\"root/prod\",result=\"hit\"} 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn more_protocols_than_slots_are_still_counted() {
        let metrics = Metrics::default();
        for n in 0..HANDLE_SLOTS + 3 {
            metrics.request(&format!("p{n}"), 200, 1);
            metrics.cache(&format!("p{n}"), CacheResult::Miss);
        }
        let text = metrics.render();
        let last = HANDLE_SLOTS + 2;
        assert!(text.contains(&format!(
            "airlock_http_requests_total{{protocol=\"p{last}\",status=\"200\"}} 1"
        )));
        assert!(text.contains(&format!(
            "airlock_cache_lookups_total{{protocol=\"p{last}\",result=\"miss\"}} 1"
        )));
    }
}
