//! The checksums repodata declares (`<checksum type="sha256">`): sha256 for
//! current repositories, `sha`/`sha1` and sha512 for some older or third-party
//! ones. The store addresses blobs by sha256 whatever upstream declares, so a
//! fetch verifies the declared algorithm while it streams, beside the sha256
//! the blob writer computes anyway.

use sha2::digest::DynDigest;
use std::fmt;

/// A hash algorithm a `type` attribute names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `sha` or `sha1`.
    Sha1,
    /// `sha224`.
    Sha224,
    /// `sha256`.
    Sha256,
    /// `sha384`.
    Sha384,
    /// `sha512`.
    Sha512,
}

impl Algorithm {
    /// The algorithm a `type` attribute names; `None` for unknown ones.
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_lowercase().as_str() {
            "sha" | "sha1" => Some(Algorithm::Sha1),
            "sha224" => Some(Algorithm::Sha224),
            "sha256" => Some(Algorithm::Sha256),
            "sha384" => Some(Algorithm::Sha384),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// The name createrepo_c writes for it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha224 => "sha224",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The hex length of its digests.
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 40,
            Algorithm::Sha224 => 56,
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }

    /// A fresh hasher.
    pub fn hasher(self) -> Hasher {
        let inner: Box<dyn DynDigest + Send> = match self {
            Algorithm::Sha1 => Box::new(sha1::Sha1::default()),
            Algorithm::Sha224 => Box::new(sha2::Sha224::default()),
            Algorithm::Sha256 => Box::new(sha2::Sha256::default()),
            Algorithm::Sha384 => Box::new(sha2::Sha384::default()),
            Algorithm::Sha512 => Box::new(sha2::Sha512::default()),
        };
        Hasher(inner)
    }
}

/// A declared checksum: algorithm and lower-case hex value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The value, lower-case hex.
    pub hex: String,
}

impl Checksum {
    /// Parses a `type` attribute and a hex value; an unknown algorithm or a
    /// value of the wrong length or alphabet is an error message.
    pub fn parse(kind: &str, value: &str) -> Result<Checksum, String> {
        let algorithm =
            Algorithm::parse(kind).ok_or_else(|| format!("unknown checksum type {kind:?}"))?;
        let hex = value.trim().to_ascii_lowercase();
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("malformed {kind} checksum {value:?}"));
        }
        Ok(Checksum { algorithm, hex })
    }

    /// The store digest when the algorithm is the store's own (sha256).
    pub fn as_store_digest(&self) -> Option<airlock_core::Digest> {
        match self.algorithm {
            Algorithm::Sha256 => format!("sha256:{}", self.hex).parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}:{}", self.algorithm, self.hex)
    }
}

/// A running hash.
pub struct Hasher(Box<dyn DynDigest + Send>);

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest, lower-case hex.
    pub fn finish_hex(self) -> String {
        hex::encode(self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_checksums_are_checked_by_their_algorithm() {
        let sha1 =
            Checksum::parse("sha", "A9993E364706816ABA3E25717850C26C9CD0D89D").expect("sha1");
        assert_eq!(sha1.algorithm, Algorithm::Sha1);
        assert!(sha1.as_store_digest().is_none());
        let mut h = sha1.algorithm.hasher();
        h.update(b"abc");
        assert_eq!(h.finish_hex(), sha1.hex);
        let sha512 = Algorithm::Sha512.hasher().finish_hex();
        assert!(Checksum::parse("sha512", &sha512).is_ok());
        assert!(Checksum::parse("sha256", "abc").is_err());
        assert!(Checksum::parse("md4", "00").is_err());
        let sha256 = Algorithm::Sha256.hasher().finish_hex();
        let digest = Checksum::parse("sha256", &sha256)
            .expect("sha256")
            .as_store_digest()
            .expect("digest");
        assert_eq!(digest.hex(), sha256);
    }
}
