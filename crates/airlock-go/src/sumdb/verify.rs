//! Verifies module files against the checksum database, as `go` does with
//! `GOSUMDB` on, so that a client with it off (or an old habit of
//! `GONOSUMDB=*`) still gets only what the database recorded.
//!
//! For `module@version`, the lookup and the tiles come through this airlock's
//! own checksum-database cache (`files.rs`), so they are fetched once and kept,
//! and served to clients too. The lookup's tree head must carry
//! the configured key's signature and be consistent with the newest head seen
//! before (kept in the index); the record must be in that tree (checked with
//! the tiles); and the file's `h1:` must be the record's. A verified record is
//! remembered, so a version's second file costs nothing.

use super::note::{NoteError, Verifier};
use super::tlog::{self, Record, Tree};
use crate::error::GoError;
use crate::index;
use crate::patterns::PathPatterns;
use crate::proxy::{GoProxy, PROTOCOL};
use crate::request::FileKind;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// `sum.golang.org`'s verifier key, as `go` knows it (`cmd/go/internal/modfetch`).
pub const SUM_GOLANG_ORG_KEY: &str =
    "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

/// Verified records kept in memory before the map is cleared (bounds memory).
const RECORD_CACHE: usize = 100_000;
/// Hash tiles kept in memory (at most 8 KiB each) before the map is cleared.
/// The tiles near the tree's edge are read for every record checked.
const TILE_CACHE: usize = 1024;

/// How module files are checked: the database, the private patterns, and what
/// to do when the database cannot answer.
#[derive(Debug)]
pub struct SumDbCheck {
    /// The checksum database that verifies (`None`: every file is not covered).
    verifier: Option<Verifier>,
    /// Module paths never looked up (`go.private`).
    private: PathPatterns,
    /// Store files unverified (and marked so) when the database is unreachable.
    store_unverified: bool,
    /// The newest verified tree head (loaded from the index on first use).
    /// Holding the lock serialises merging heads.
    head: tokio::sync::Mutex<Option<Tree>>,
    /// Verified records by `module@version`: (zip `h1:`, go.mod `h1:`).
    records: Mutex<HashMap<String, RecordHashes>>,
    /// Hash tiles read before, by path (a tile's bytes never change).
    tiles: Mutex<HashMap<String, Bytes>>,
    /// Checksum-database files fetched for a verification and being stored in
    /// the background, by `<name>/<path>`: served from memory meanwhile.
    pub(super) pending: Arc<Mutex<HashMap<String, Bytes>>>,
}

/// The two hashes a checksum-database record holds for a version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordHashes {
    /// `<module> <version> h1:…`: the zip's.
    pub zip: Option<String>,
    /// `<module> <version>/go.mod h1:…`: the go.mod's.
    pub go_mod: Option<String>,
}

/// How a stored module file was checked (the `verification` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Its `h1:` is the checksum database's.
    Verified,
    /// No database covers its path (`go.private`, or none configured).
    NotCovered,
    /// The database could not be asked or could not answer; kept by choice.
    Unverified,
}

impl Verification {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Verified => "verified",
            Verification::NotCovered => "not-covered",
            Verification::Unverified => "unverified",
        }
    }
}

/// What a module file must hash to before it may be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The database's `h1:` for the file.
    Hash(String),
    /// Not covered by a database: stored as it is.
    NotCovered,
    /// The database could not answer, and the settings keep such files (the reason).
    Unverified(String),
}

impl Expected {
    /// How the file is marked once it passed [`GoProxy::check_hash`].
    pub fn verification(&self) -> Verification {
        match self {
            Expected::Hash(_) => Verification::Verified,
            Expected::NotCovered => Verification::NotCovered,
            Expected::Unverified(_) => Verification::Unverified,
        }
    }
}

/// What becomes of an imported module file.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportCheck {
    /// Stored, marked so (`None` for `.info`), with a note for the report
    /// when it could not be verified.
    Store(Option<Verification>, Option<String>),
    /// Refused, with the reason.
    Refuse(String),
}

/// Why a version could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The database (or, offline, the cache) has no record of the version.
    #[error("no record: {0}")]
    NoRecord(String),
    /// The database could not be reached, or a file it needs is not cached.
    #[error("{0}")]
    Unreachable(String),
    /// The database's answer is not valid: bad signature, bad proof, malformed.
    #[error("invalid answer: {0}")]
    Invalid(String),
    /// The database's tree is inconsistent with one it signed before.
    #[error("SECURITY ERROR: the checksum database forked: {0}")]
    Forked(String),
    /// Airlock's own storage failed.
    #[error(transparent)]
    Internal(GoError),
}

impl SumDbCheck {
    /// A check against the database `verifier` names (none: nothing is covered).
    pub fn new(verifier: Option<Verifier>, private: PathPatterns, store_unverified: bool) -> Self {
        SumDbCheck {
            verifier,
            private,
            store_unverified,
            head: tokio::sync::Mutex::default(),
            records: Mutex::default(),
            tiles: Mutex::default(),
            pending: Arc::default(),
        }
    }

    /// The verifying database's name, if any.
    pub fn database(&self) -> Option<&str> {
        self.verifier.as_ref().map(Verifier::name)
    }

    /// Whether a database verifies `module`.
    pub fn covers(&self, module: &str) -> bool {
        self.verifier.is_some() && !self.private.matches(module)
    }

    /// Whether files that cannot be verified are stored, marked.
    pub fn stores_unverified(&self) -> bool {
        self.store_unverified
    }

    fn remembered(&self, key: &str) -> Option<RecordHashes> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.get(key).cloned()
    }

    /// A checksum-database file fetched for a verification and still being stored.
    pub fn pending_file(&self, name: &str, path: &str) -> Option<Bytes> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.get(&format!("{name}/{path}")).cloned()
    }

    pub(super) fn tile(&self, path: &str) -> Option<Bytes> {
        let tiles = self.tiles.lock().unwrap_or_else(|p| p.into_inner());
        tiles.get(path).cloned()
    }

    pub(super) fn keep_tile(&self, path: String, bytes: Bytes) {
        let mut tiles = self.tiles.lock().unwrap_or_else(|p| p.into_inner());
        if tiles.len() >= TILE_CACHE {
            tiles.clear();
        }
        tiles.insert(path, bytes);
    }

    fn remember(&self, key: String, hashes: RecordHashes) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() >= RECORD_CACHE {
            records.clear();
        }
        records.insert(key, hashes);
    }
}

/// The record's hashes for `module version`, from its go.sum lines.
pub fn record_hashes(text: &str, module: &str, version: &str) -> RecordHashes {
    let mut hashes = RecordHashes::default();
    for line in text.lines() {
        let mut fields = line.split(' ');
        let (Some(m), Some(v), Some(h), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if m != module {
            continue;
        }
        if v == version {
            hashes.zip = Some(h.to_owned());
        } else if v.strip_suffix("/go.mod") == Some(version) {
            hashes.go_mod = Some(h.to_owned());
        }
    }
    hashes
}

impl GoProxy {
    /// What a `.mod` or `.zip` of `module@version` must hash to (`None` for
    /// `.info`, which no database records), for a fetch from an upstream: a
    /// database that cannot answer fails it (502) unless `go.store_unverified`.
    pub async fn expected_hash(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
        fetch: bool,
    ) -> Result<Option<Expected>, GoError> {
        let name = self.sumdb_check.database().unwrap_or("-");
        match self.database_hash(module, version, kind, fetch).await {
            Ok(expected) => Ok(expected),
            Err(VerifyError::Internal(e)) => Err(e),
            Err(VerifyError::Unreachable(msg)) if self.sumdb_check.store_unverified => {
                tracing::warn!(database = name, module, version, error = %msg, "checksum database unreachable: storing the module file marked unverified");
                Ok(Some(Expected::Unverified(msg)))
            }
            Err(VerifyError::Unreachable(msg)) => Err(GoError::Unverifiable(format!(
                "{module}@{version}: checksum database {name} unreachable, so it cannot be \
                 verified: {msg}; nothing was stored"
            ))),
            Err(e) => Err(GoError::Unverifiable(format!(
                "{module}@{version}: not verified against checksum database {name}: {e}; \
                 nothing was stored"
            ))),
        }
    }

    /// How an imported `.mod` or `.zip` with hash `h1` fares against the
    /// checksum database's files already stored (imports never fetch):
    /// stored with its verification, or refused with the reason. Files that
    /// cannot be verified are kept (marked) only when `go.store_unverified`
    /// (`import --keep-unverified`).
    pub async fn check_imported(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
        h1: Option<&str>,
        origin: &str,
    ) -> Result<ImportCheck, GoError> {
        let name = self.sumdb_check.database().unwrap_or("-");
        let unverifiable = |why: String| {
            if self.sumdb_check.store_unverified {
                ImportCheck::Store(Some(Verification::Unverified), Some(why))
            } else {
                ImportCheck::Refuse(format!(
                    "{why} (--keep-unverified keeps such files, marked)"
                ))
            }
        };
        Ok(
            match self.database_hash(module, version, kind, false).await {
                Ok(None) => ImportCheck::Store(None, None),
                // Listed when go.private excluded it; with no database at all, every file is.
                Ok(Some(Expected::NotCovered)) => ImportCheck::Store(
                    Some(Verification::NotCovered),
                    self.sumdb_check
                        .database()
                        .map(|_| "not covered: its path matches go.private".to_owned()),
                ),
                Ok(Some(expected)) => {
                    match self.check_hash(Some(&expected), module, version, kind, h1, origin) {
                        Ok(()) => ImportCheck::Store(Some(expected.verification()), None),
                        Err(GoError::ChecksumMismatch(msg)) => ImportCheck::Refuse(msg),
                        Err(e) => return Err(e),
                    }
                }
                Err(VerifyError::Internal(e)) => return Err(e),
                Err(VerifyError::Forked(msg)) => ImportCheck::Refuse(format!(
                    "{module}@{version}: SECURITY ERROR: checksum database {name} forked: {msg}"
                )),
                Err(VerifyError::NoRecord(msg)) => {
                    unverifiable(format!("no record in checksum database {name}: {msg}"))
                }
                Err(e) => unverifiable(format!(
                    "could not verify against checksum database {name}: {e}"
                )),
            },
        )
    }

    /// The checksum database's `h1:` for a `.mod` or `.zip` (`None` for
    /// `.info`), or why there is none. A forked log and an invalid answer are
    /// security events, logged and counted here.
    async fn database_hash(
        &self,
        module: &str,
        version: &str,
        kind: FileKind,
        fetch: bool,
    ) -> Result<Option<Expected>, VerifyError> {
        if kind == FileKind::Info {
            return Ok(None);
        }
        let verifier = match &self.sumdb_check.verifier {
            Some(v) if self.sumdb_check.covers(module) => v,
            _ => return Ok(Some(Expected::NotCovered)),
        };
        let name = verifier.name();
        let record = self
            .verified_record(verifier, module, version, fetch)
            .await
            .inspect_err(|e| match e {
                VerifyError::Forked(msg) => {
                    tracing::warn!(security = true, database = name, module, version, error = %msg, "checksum database forked: its tree heads are inconsistent");
                    self.metrics.security_event(PROTOCOL, "forked_log");
                }
                VerifyError::Invalid(msg) => {
                    tracing::warn!(security = true, database = name, module, version, error = %msg, "invalid checksum database answer");
                    self.metrics.security_event(PROTOCOL, "invalid_sumdb_answer");
                }
                _ => {}
            })?;
        let (hash, line) = match kind {
            FileKind::Zip => (record.zip, "zip"),
            _ => (record.go_mod, "go.mod"),
        };
        hash.map(|h| Some(Expected::Hash(h)))
            .ok_or_else(|| VerifyError::NoRecord(format!("{name}'s record has no {line} line")))
    }

    /// Checks a fetched file's `h1:` against what the database expects. A
    /// mismatch is a security event: logged, counted, and refused.
    pub fn check_hash(
        &self,
        expected: Option<&Expected>,
        module: &str,
        version: &str,
        kind: FileKind,
        h1: Option<&str>,
        origin: &str,
    ) -> Result<(), GoError> {
        let Some(Expected::Hash(want)) = expected else {
            return Ok(());
        };
        let got = h1.unwrap_or("(none)");
        if got == want {
            return Ok(());
        }
        let file = if kind == FileKind::Zip {
            "zip"
        } else {
            "go.mod"
        };
        let database = self.sumdb_check.database().unwrap_or("-");
        tracing::warn!(security = true, module, version, file, got, want = %want, database, origin = %airlock_core::upstream::redact_str(origin), "checksum mismatch: module file refused");
        self.metrics.security_event(PROTOCOL, "checksum_mismatch");
        Err(GoError::ChecksumMismatch(format!(
            "SECURITY ERROR: {module}@{version}: the upstream's {file} hashes to {got}, \
             but checksum database {database} records {want}; nothing was stored"
        )))
    }

    /// The record of `module@version`, verified.
    async fn verified_record(
        &self,
        verifier: &Verifier,
        module: &str,
        version: &str,
        fetch: bool,
    ) -> Result<RecordHashes, VerifyError> {
        let key = format!("{module}@{version}");
        if let Some(hashes) = self.sumdb_check.remembered(&key) {
            return Ok(hashes);
        }
        let name = verifier.name();
        let path = format!(
            "lookup/{}@{}",
            crate::module::escape_path(module).map_err(|e| VerifyError::Invalid(e.to_string()))?,
            crate::module::escape_version(version)
                .map_err(|e| VerifyError::Invalid(e.to_string()))?
        );
        let msg = self
            .sumdb_bytes(name, &path, fetch)
            .await
            .map_err(|e| match e {
                VerifyError::Unreachable(m) if !fetch => VerifyError::NoRecord(m),
                e => e,
            })?;
        let invalid =
            |e: &dyn std::fmt::Display| VerifyError::Invalid(format!("{name}/{path}: {e}"));
        let record = Record::parse(&msg).map_err(|e| invalid(&e))?;
        let tree = self
            .verified_tree(verifier, record.tree_note, fetch)
            .await?;
        if record.id >= tree.size {
            return Err(invalid(&format!(
                "record {} is not in its tree of size {}",
                record.id, tree.size
            )));
        }
        let leaf = self
            .read_hashes(name, tree, &[tlog::stored_hash_index(0, record.id)], fetch)
            .await?;
        if leaf.first() != Some(&tlog::record_hash(record.text.as_bytes())) {
            return Err(invalid(&"the record is not the one in the signed tree"));
        }
        let hashes = record_hashes(record.text, module, version);
        if hashes == RecordHashes::default() {
            return Err(invalid(&format!(
                "the record is not about {module} {version}"
            )));
        }
        self.sumdb_check.remember(key, hashes.clone());
        Ok(hashes)
    }

    /// Checks a signed tree head and its consistency with the newest one seen,
    /// which it replaces when newer. Returns the tree.
    async fn verified_tree(
        &self,
        verifier: &Verifier,
        note: &[u8],
        fetch: bool,
    ) -> Result<Tree, VerifyError> {
        let name = verifier.name();
        let text = verifier.open(note).map_err(|e| match e {
            NoteError::BadSignature(_) | NoteError::NotSigned(_) | NoteError::Malformed => {
                VerifyError::Invalid(format!("tree head: {e}"))
            }
            e => VerifyError::Invalid(e.to_string()),
        })?;
        let tree =
            Tree::parse(text).map_err(|e| VerifyError::Invalid(format!("tree head: {e}")))?;
        let mut head = self.sumdb_check.head.lock().await;
        if head.is_none() {
            *head = index::sumdb_head(&self.db, name)
                .await
                .map_err(|e| VerifyError::Internal(e.into()))?
                .and_then(|(size, hash)| {
                    Some(Tree {
                        size,
                        hash: base64_hash(&hash)?,
                    })
                });
        }
        let Some(known) = *head else {
            self.install_head(&mut head, name, tree, text).await?;
            return Ok(tree);
        };
        let (older, newer) = if tree.size <= known.size {
            (tree, known)
        } else {
            (known, tree)
        };
        let consistent = if older.size == newer.size {
            older.hash == newer.hash
        } else if older.size == 0 {
            true
        } else {
            let hashes = self
                .read_hashes(name, newer, &tlog::tree_hash_indexes(older.size), fetch)
                .await;
            match hashes {
                Ok(hashes) => tlog::tree_hash(older.size, &hashes) == older.hash,
                // Tiles that do not hash to the newer root: that head is not the log's.
                Err(VerifyError::Invalid(_)) => false,
                Err(e) => return Err(e),
            }
        };
        if !consistent {
            return Err(VerifyError::Forked(format!(
                "tree {} ({}) is not a prefix of tree {} ({})",
                older.size,
                older.hash_base64(),
                newer.size,
                newer.hash_base64()
            )));
        }
        if tree.size > known.size {
            self.install_head(&mut head, name, tree, text).await?;
        }
        Ok(tree)
    }

    /// Remembers and persists a newer verified tree head.
    async fn install_head(
        &self,
        head: &mut Option<Tree>,
        name: &str,
        tree: Tree,
        text: &str,
    ) -> Result<(), VerifyError> {
        index::set_sumdb_head(&self.db, name, tree.size, &tree.hash_base64(), text)
            .await
            .map_err(|e| VerifyError::Internal(e.into()))?;
        *head = Some(tree);
        Ok(())
    }
}

fn base64_hash(b64: &str) -> Option<tlog::Hash> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|h| tlog::Hash::try_from(h).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines_give_the_zip_and_go_mod_hashes() {
        let text = "example.com/m v1.0.0 h1:zip=\nexample.com/m v1.0.0/go.mod h1:mod=\n";
        assert_eq!(
            record_hashes(text, "example.com/m", "v1.0.0"),
            RecordHashes {
                zip: Some("h1:zip=".into()),
                go_mod: Some("h1:mod=".into())
            }
        );
        assert_eq!(
            record_hashes(text, "example.com/m", "v1.0.1"),
            RecordHashes::default()
        );
        assert_eq!(
            record_hashes(text, "example.com/m/v2", "v1.0.0"),
            RecordHashes::default()
        );
        // go.mod-only records (a version never downloaded whole) have one line.
        let only_mod = "example.com/m v1.0.0/go.mod h1:mod=\n";
        assert_eq!(record_hashes(only_mod, "example.com/m", "v1.0.0").zip, None);
    }

    #[test]
    fn a_tree_head_signed_by_sum_golang_org_verifies_with_the_built_in_key() {
        // A real sum.golang.org tree head (size 65664258).
        let head = "go.sum database tree\n65664258\nWVVNVD2qx+fTq31zkj6UAqxT5X6HvGphGM+o8Thnbsg=\n";
        let note = format!(
            "{head}\n\u{2014} sum.golang.org Az3grligJmgX7KGyGPKybykNTh3VgsbLvUuvOwrM5zLVlulmFp2wdvbxOw74/gcNxURShXEpb7RXcs3+BYflYN+w0gQ=\n"
        );
        let v = Verifier::parse(SUM_GOLANG_ORG_KEY).expect("sum.golang.org key");
        let text = v.open(note.as_bytes()).expect("signed by sum.golang.org");
        let tree = Tree::parse(text).expect("tree");
        assert_eq!(tree.size, 65664258);
        let bent = note.replace("65664258", "65664259");
        assert!(matches!(
            v.open(bent.as_bytes()),
            Err(NoteError::BadSignature(_))
        ));
    }

    #[test]
    fn the_known_key_parses() {
        let v = Verifier::parse(SUM_GOLANG_ORG_KEY).expect("sum.golang.org key");
        assert_eq!(v.name(), "sum.golang.org");
        let check = SumDbCheck::new(
            Some(v),
            PathPatterns::parse("*.corp.example.com,example.com/private").expect("patterns"),
            false,
        );
        assert!(check.covers("golang.org/x/mod"));
        assert!(!check.covers("git.corp.example.com/team/x"));
        assert!(!check.covers("example.com/private/y"));
        let none = SumDbCheck::new(None, PathPatterns::default(), false);
        assert!(!none.covers("golang.org/x/mod"));
    }
}
