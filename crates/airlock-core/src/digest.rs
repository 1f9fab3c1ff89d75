//! The sha256 digest that names every blob, and the digests of other
//! algorithms that some clients name content by (OCI's sha512): those are
//! computed beside the sha256 ([`Hashes`]) and map onto it, the store stays
//! sha256-addressed.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::str::FromStr;

/// A sha256 content digest, written `sha256:<64 lowercase hex>` (the OCI form).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// A string that is not a `sha256:<64 hex>` digest.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
pub struct InvalidDigest(pub String);

impl Digest {
    /// Builds a digest from the 32 raw bytes of a sha256 sum.
    pub fn from_sha256_bytes(bytes: &[u8]) -> Self {
        Digest {
            hex: hex::encode(bytes),
        }
    }

    /// Parses the bare 64-hex form (no `sha256:` prefix), as used in file names.
    pub fn from_hex(hex: &str) -> Result<Self, InvalidDigest> {
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Digest {
                hex: hex.to_owned(),
            })
        } else {
            Err(InvalidDigest(hex.to_owned()))
        }
    }

    /// The 64 lowercase hex digits.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = InvalidDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("sha256:") {
            Some(hex) => Digest::from_hex(hex).map_err(|_| InvalidDigest(s.to_owned())),
            None => Err(InvalidDigest(s.to_owned())),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A hash algorithm clients may name content by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgorithm {
    /// sha256: the name of every stored blob.
    Sha256,
    /// sha512 (OCI clients may push and pull by it).
    Sha512,
}

impl HashAlgorithm {
    /// The name in a digest string (`sha256`, `sha512`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    /// The algorithm of this name, if supported.
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        match name {
            "sha256" => Some(HashAlgorithm::Sha256),
            "sha512" => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }

    /// Lowercase hex digits of its digests.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 64,
            HashAlgorithm::Sha512 => 128,
        }
    }
}

/// A digest under any supported algorithm, `<algorithm>:<lowercase hex>`.
/// Content is stored by its sha256 ([`Digest`]); another algorithm's digest
/// is what a client named it by, kept beside it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnyDigest {
    algorithm: HashAlgorithm,
    hex: String,
}

/// A string that is not `<sha256|sha512>:<lowercase hex of the right length>`.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest {0:?}: expected sha256:<64> or sha512:<128 lowercase hex digits>")]
pub struct InvalidAnyDigest(pub String);

impl AnyDigest {
    /// The algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The lowercase hex digits.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The store's digest, when this is a sha256 one.
    pub fn as_sha256(&self) -> Option<Digest> {
        match self.algorithm {
            HashAlgorithm::Sha256 => Some(Digest {
                hex: self.hex.clone(),
            }),
            HashAlgorithm::Sha512 => None,
        }
    }

    /// The digest of `bytes` under `algorithm`.
    pub fn of(algorithm: HashAlgorithm, bytes: &[u8]) -> AnyDigest {
        let mut hashes = Hashes::new(algorithm);
        hashes.update(bytes);
        hashes.finish().named
    }
}

impl From<Digest> for AnyDigest {
    fn from(d: Digest) -> Self {
        AnyDigest {
            algorithm: HashAlgorithm::Sha256,
            hex: d.hex,
        }
    }
}

impl FromStr for AnyDigest {
    type Err = InvalidAnyDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidAnyDigest(s.to_owned());
        let (name, hex) = s.split_once(':').ok_or_else(invalid)?;
        let algorithm = HashAlgorithm::from_name(name).ok_or_else(invalid)?;
        let ok = hex.len() == algorithm.hex_len()
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(invalid());
        }
        Ok(AnyDigest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for AnyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Debug for AnyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The sha256 of some bytes and, when asked for, their digest under another
/// algorithm, computed in the same pass. With sha256 alone it costs what a
/// plain sha256 does.
#[derive(Clone, Debug)]
pub struct Hashes {
    sha256: Sha256,
    sha512: Option<Sha512>,
}

/// What [`Hashes::finish`] computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashed {
    /// The store's name for the bytes.
    pub sha256: Digest,
    /// Their digest under the algorithm asked for (the sha256 itself when that was it).
    pub named: AnyDigest,
}

impl Hashes {
    /// Hashes with sha256 and, if it is another one, `also`.
    pub fn new(also: HashAlgorithm) -> Hashes {
        Hashes {
            sha256: Sha256::new(),
            sha512: (also == HashAlgorithm::Sha512).then(Sha512::new),
        }
    }

    /// Whether these hashes give a digest under `algorithm`.
    pub fn covers(&self, algorithm: HashAlgorithm) -> bool {
        match algorithm {
            HashAlgorithm::Sha256 => true,
            HashAlgorithm::Sha512 => self.sha512.is_some(),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        if let Some(sha512) = &mut self.sha512 {
            sha512.update(bytes);
        }
    }

    /// The digests.
    pub fn finish(self) -> Hashed {
        let sha256 = Digest::from_sha256_bytes(&self.sha256.finalize());
        let named = match self.sha512 {
            Some(sha512) => AnyDigest {
                algorithm: HashAlgorithm::Sha512,
                hex: hex::encode(sha512.finalize()),
            },
            None => sha256.clone().into(),
        };
        Hashed { sha256, named }
    }
}

impl std::io::Write for Hashes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn any_digest_parses_sha256_and_sha512_only() {
        let sha512 = AnyDigest::of(HashAlgorithm::Sha512, b"");
        assert_eq!(
            sha512.to_string(),
            "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
             47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        );
        let again: AnyDigest = sha512.to_string().parse().expect("sha512");
        assert_eq!(again, sha512);
        assert_eq!(again.as_sha256(), None);
        let sha256: AnyDigest = format!("sha256:{}", "a".repeat(64))
            .parse()
            .expect("sha256");
        assert_eq!(
            sha256.as_sha256().map(|d| d.to_string()),
            Some(sha256.to_string())
        );
        for bad in [
            format!("sha512:{}", "a".repeat(64)),
            format!("sha512:{}", "A".repeat(128)),
            format!("sha384:{}", "a".repeat(96)),
            format!("sha256:{}", "a".repeat(128)),
            "sha512".into(),
        ] {
            assert!(bad.parse::<AnyDigest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes_compute_both_in_one_pass() {
        let mut both = Hashes::new(HashAlgorithm::Sha512);
        both.update(b"hel");
        both.update(b"lo");
        let hashed = both.finish();
        assert_eq!(
            hashed.sha256.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(hashed.named, AnyDigest::of(HashAlgorithm::Sha512, b"hello"));
        let plain = Hashes::new(HashAlgorithm::Sha256);
        assert!(!plain.covers(HashAlgorithm::Sha512));
        assert_eq!(
            plain.finish().named,
            AnyDigest::of(HashAlgorithm::Sha256, b"")
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "sha256:",
            "sha256:ABCDEF",
            "md5:00",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}", "0".repeat(63)),
            &format!("sha256:{}/..", "0".repeat(62)),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(bytes in proptest::collection::vec(any::<u8>(), 32)) {
            let d = Digest::from_sha256_bytes(&bytes);
            let again: Digest = d.to_string().parse().expect("round trip");
            prop_assert_eq!(d, again);
        }
    }
}
