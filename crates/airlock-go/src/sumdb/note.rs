//! Signed notes (`golang.org/x/mod/sumdb/note`): a text, a blank line, then
//! signature lines `— <name> <base64(key hash || signature)>`. A checksum
//! database signs its tree heads this way with ed25519.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The algorithm byte of an ed25519 verifier key.
const ALG_ED25519: u8 = 1;
/// What starts a signature line.
const SIG_PREFIX: &str = "\u{2014} ";
/// Notes larger than this are refused (a tree head is about 200 bytes).
const MAX_NOTE: usize = 1 << 20;

/// Why a key or a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The verifier key is not `name+hash+base64key`.
    #[error("malformed verifier key {0:?}: want <name>+<8 hex digits>+<base64 key>")]
    BadKey(String),
    /// The key's hash does not match its name and key.
    #[error("verifier key {0:?}: its hash does not match its name and key")]
    KeyHash(String),
    /// Not the note syntax.
    #[error("malformed signed note")]
    Malformed,
    /// A signature by the verifier's key that does not verify.
    #[error("invalid signature by {0}")]
    BadSignature(String),
    /// No signature by the verifier's key.
    #[error("note is not signed by {0}")]
    NotSigned(String),
}

/// A note verifier: the public key of one signer, from its verifier key
/// `<name>+<hex key hash>+<base64(0x01 || ed25519 public key)>`.
#[derive(Clone, Debug)]
pub struct Verifier {
    name: String,
    hash: u32,
    key: ed25519_dalek::VerifyingKey,
}

/// The first four bytes (big-endian) of SHA-256(name + "\n" + algorithm || key).
fn key_hash(name: &str, alg_and_key: &[u8]) -> u32 {
    let sum = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update(alg_and_key)
        .finalize();
    u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]])
}

/// A signer or key name: non-empty, no spaces, no `+`.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(char::is_whitespace) && !name.contains('+')
}

impl Verifier {
    /// Parses a verifier key, as `GOSUMDB` takes it.
    pub fn parse(vkey: &str) -> Result<Verifier, NoteError> {
        let bad = || NoteError::BadKey(vkey.to_owned());
        let mut parts = vkey.splitn(3, '+');
        let (name, hash16, key64) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(h), Some(k)) => (n, h, k),
            _ => return Err(bad()),
        };
        let hash = u32::from_str_radix(hash16, 16).map_err(|_| bad())?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(key64)
            .map_err(|_| bad())?;
        if hash16.len() != 8 || !is_valid_name(name) || key.is_empty() {
            return Err(bad());
        }
        if hash != key_hash(name, &key) {
            return Err(NoteError::KeyHash(vkey.to_owned()));
        }
        let key = match key.split_first() {
            Some((&ALG_ED25519, raw)) => <[u8; 32]>::try_from(raw).map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
        Ok(Verifier {
            name: name.to_owned(),
            hash,
            key,
        })
    }

    /// The signer's name, e.g. `sum.golang.org`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks a signed note and returns its text (ending in `\n`). The note must
    /// carry a valid signature by this key; other signers' lines are ignored.
    pub fn open<'a>(&self, msg: &'a [u8]) -> Result<&'a str, NoteError> {
        if msg.len() > MAX_NOTE {
            return Err(NoteError::Malformed);
        }
        let msg = std::str::from_utf8(msg).map_err(|_| NoteError::Malformed)?;
        if msg.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed);
        }
        let split = msg.rfind("\n\n").ok_or(NoteError::Malformed)?;
        let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::Malformed);
        };
        let mut verified = false;
        for line in sigs.split('\n') {
            let line = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed)?;
            let (name, b64) = line.split_once(' ').ok_or(NoteError::Malformed)?;
            let sig = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| NoteError::Malformed)?;
            if !is_valid_name(name) || sig.len() < 5 {
                return Err(NoteError::Malformed);
            }
            let hash = u32::from_be_bytes([sig[0], sig[1], sig[2], sig[3]]);
            if name != self.name || hash != self.hash {
                continue; // another signer (a witness, say)
            }
            let signature = ed25519_dalek::Signature::from_slice(&sig[4..])
                .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            verified = true;
        }
        if verified {
            Ok(text)
        } else {
            Err(NoteError::NotSigned(self.name.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // golang.org/x/mod/sumdb/note's test vectors (note_test.go: TestSign, TestOpen).
    const PETER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn go_signed_notes_open() {
        let v = Verifier::parse(PETER).expect("key");
        assert_eq!(v.name(), "PeterNeumann");
        let note = format!("{TEXT}\n{SIG}");
        assert_eq!(v.open(note.as_bytes()), Ok(TEXT));
        // Another signer's line is skipped.
        let witnessed = format!("{TEXT}\n\u{2014} Other AAAAAAAA\n{SIG}");
        assert_eq!(v.open(witnessed.as_bytes()), Ok(TEXT));
    }

    #[test]
    fn tampered_or_unsigned_notes_are_refused() {
        let v = Verifier::parse(PETER).expect("key");
        let changed = format!("{}\n{SIG}", TEXT.replace("answer", "answers"));
        assert_eq!(
            v.open(changed.as_bytes()),
            Err(NoteError::BadSignature("PeterNeumann".into()))
        );
        let other = format!("{TEXT}\n\u{2014} Other AAAAAAAA\n");
        assert_eq!(
            v.open(other.as_bytes()),
            Err(NoteError::NotSigned("PeterNeumann".into()))
        );
        for bad in [
            format!("{TEXT}{SIG}"),                        // no blank line
            format!("{TEXT}\n{}", SIG.trim_end()),         // no final newline
            format!("{TEXT}\n- PeterNeumann x08go/ZJ\n"),  // not an em dash
            format!("{TEXT}\n\u{2014} PeterNeumann !!\n"), // not base64
            format!("a\u{7}b\n\n{SIG}"),                   // control character
        ] {
            assert_eq!(v.open(bad.as_bytes()), Err(NoteError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn verifier_keys() {
        // sum.golang.org's published key (cmd/go/internal/modfetch: knownGOSUMDB).
        let v =
            Verifier::parse("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8")
                .expect("sum.golang.org");
        assert_eq!(v.name(), "sum.golang.org");
        assert!(matches!(
            Verifier::parse("sum.golang.org+033de0af+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"),
            Err(NoteError::KeyHash(_))
        ));
        for bad in [
            "",
            "name",
            "name+c74f20a3",
            "name+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "na me+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            assert!(
                matches!(Verifier::parse(bad), Err(NoteError::BadKey(_))),
                "{bad:?}"
            );
        }
    }
}
