//! What every airlock protocol shares: the content-addressed blob store, the SQLite
//! metadata index, the outbound HTTP client, write authentication, metrics and the
//! helpers that serve stored bytes over HTTP.
//!
//! Protocol crates (`airlock-go`, later PyPI, OCI and YUM) build on these pieces and
//! never on each other.
#![warn(missing_docs)]

pub mod auth;
pub mod background;
pub mod config;
pub mod db;
pub mod digest;
pub mod follow;
pub mod gc;
pub mod inflight;
mod mapped;
pub mod memo;
pub mod metrics;
pub mod negotiate;
pub mod rendered;
pub mod serve;
pub mod smallblobs;
pub mod store;
pub mod upload;
pub mod upstream;
pub mod writebehind;

pub use config::Mode;
pub use db::Db;
pub use digest::Digest;
pub use store::{BlobStore, LocalStore, StagedBlob, Staging};

/// The current time as unix seconds, the unit every `created_at` column uses.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
