//! Reading and checking an RPM file's header: lead + signature header + main
//! header, never the payload into memory.
//!
//! The two header preambles are read first and bounded (rpm's own limits), so a
//! file claiming a 4 GiB header is refused before anything is allocated. Then
//! the `rpm` crate parses the headers, and the file is checked against them:
//! its size against the signature's header+payload size, and the payload's
//! sha256 (streamed) against the header's, when the package carries them. A
//! truncated or altered RPM is refused before anything is stored.

use crate::error::YumError;
use rpm::{IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The lead: a fixed 96 bytes before the signature header.
const LEAD_SIZE: u64 = 96;
/// Magic, version, reserved, entry count, data size.
const PREAMBLE_SIZE: u64 = 16;
/// rpm's own limits (`HEADER_TAGS_MAX`, `HEADER_DATA_MAX` in lib/header_internal.h).
const MAX_ENTRIES: u64 = 0xffff;
const MAX_DATA: u64 = 0x0fff_ffff;
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];

/// An RPM whose header was read and whose file matches it.
pub struct CheckedRpm {
    /// The parsed headers.
    pub metadata: PackageMetadata,
    /// `rpm:header-range`: where the main header starts and the payload begins.
    pub header_start: u64,
    /// See `header_start`.
    pub header_end: u64,
}

/// Reads and checks the RPM at `path` (`size` bytes). Blocking: run it on the
/// blocking pool.
pub fn read_rpm(path: &Path, size: u64) -> Result<CheckedRpm, YumError> {
    read_rpm_hashed(path, size, None)
}

/// [`read_rpm`], given the sha256 of the file's bytes from `payload.0` on,
/// taken while the file was written ([`PayloadHasher`]): the payload is then
/// not read again, when its header says the payload starts there.
pub fn read_rpm_hashed(
    path: &Path,
    size: u64,
    payload: Option<(u64, [u8; 32])>,
) -> Result<CheckedRpm, YumError> {
    let mut file = File::open(path).map_err(YumError::io)?;
    let (header_start, header_end) = header_range(&mut file, size)?;
    file.seek(SeekFrom::Start(0)).map_err(YumError::io)?;
    let mut reader = BufReader::new((&mut file).take(header_end));
    let metadata = PackageMetadata::parse(&mut reader)
        .map_err(|e| YumError::BadRpm(format!("unreadable RPM header: {e}")))?;
    for (what, result) in [
        ("name", metadata.get_name().map(|_| ())),
        ("version", metadata.get_version().map(|_| ())),
        ("release", metadata.get_release().map(|_| ())),
        ("arch", metadata.get_arch().map(|_| ())),
    ] {
        result.map_err(|e| YumError::BadRpm(format!("RPM header has no {what}: {e}")))?;
    }
    // The signature header records the size of header + payload (rpm checks it too).
    let signed_size = metadata
        .signature
        .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGSIZE)
        .ok()
        .or_else(|| {
            metadata
                .signature
                .get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_SIZE)
                .ok()
                .map(u64::from)
        });
    if let Some(signed) = signed_size {
        if header_start + signed != size {
            return Err(YumError::BadRpm(format!(
                "the RPM is {size} bytes but its signature header says {}: truncated or altered",
                header_start + signed
            )));
        }
    } else if size <= header_end {
        return Err(YumError::BadRpm("the RPM has no payload".into()));
    }
    if let Ok(digests) = metadata
        .header
        .get_entry_data_as_string_array(IndexTag::RPMTAG_PAYLOADSHA256)
    {
        if let Some(expected) = digests.first().filter(|d| d.len() == 64) {
            let expected = expected.to_ascii_lowercase();
            let actual = match payload.filter(|(start, _)| *start == header_end) {
                Some((_, digest)) => digest,
                None => {
                    file.seek(SeekFrom::Start(header_end))
                        .map_err(YumError::io)?;
                    let mut hasher = Sha256::new();
                    std::io::copy(&mut file, &mut hasher).map_err(YumError::io)?;
                    hasher.finalize().into()
                }
            };
            if hex::encode(actual) != expected {
                return Err(YumError::BadRpm(
                    "the RPM payload does not match the digest in its header: truncated or altered"
                        .into(),
                ));
            }
        }
    }
    Ok(CheckedRpm {
        metadata,
        header_start,
        header_end,
    })
}

/// Where the payload of the RPM in `file` (`size` bytes) starts, by its
/// header preambles; `None` when they are not an RPM's ([`read_rpm`] then says why).
pub fn payload_start(file: &mut File, size: u64) -> Option<u64> {
    let end = header_range(file, size).ok().map(|(_, end)| end);
    file.seek(SeekFrom::Start(0)).ok()?;
    end
}

/// A reader that hashes what passes through it from byte `start` on: the
/// payload's sha256 taken during the copy into staging, so that checking it
/// against the header reads nothing again.
pub struct PayloadHasher<R> {
    inner: R,
    at: u64,
    start: u64,
    hasher: Sha256,
}

impl<R: Read> PayloadHasher<R> {
    /// Hashes `inner`'s bytes from `start` on.
    pub fn new(inner: R, start: u64) -> Self {
        PayloadHasher {
            inner,
            at: 0,
            start,
            hasher: Sha256::new(),
        }
    }

    /// Where hashing started, and the sha256 of what was read from there.
    pub fn finish(self) -> (u64, [u8; 32]) {
        (self.start, self.hasher.finalize().into())
    }
}

impl<R: Read> Read for PayloadHasher<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let end = self.at + n as u64;
        if end > self.start {
            let skip = self.start.saturating_sub(self.at) as usize;
            self.hasher.update(&buf[skip..n]);
        }
        self.at = end;
        Ok(n)
    }
}

/// The byte range of the main header, from the two preambles (as createrepo_c's
/// `cr_get_header_byte_range`), checked against rpm's limits and the file size.
fn header_range(file: &mut File, size: u64) -> Result<(u64, u64), YumError> {
    let mut lead = [0u8; 4];
    read_at(file, 0, &mut lead, size)?;
    if lead != LEAD_MAGIC {
        return Err(YumError::BadRpm("not an RPM file (no RPM lead)".into()));
    }
    let (sig_entries, sig_data) = preamble(file, LEAD_SIZE, size, "signature")?;
    let sig_len = PREAMBLE_SIZE + 16 * sig_entries + sig_data;
    let start = LEAD_SIZE + sig_len + (8 - sig_len % 8) % 8;
    let (entries, data) = preamble(file, start, size, "main")?;
    let end = start + PREAMBLE_SIZE + 16 * entries + data;
    if end > size {
        return Err(YumError::BadRpm(format!(
            "the RPM is truncated: its header ends at byte {end}, the file has {size}"
        )));
    }
    check_index(file, LEAD_SIZE, sig_entries, sig_data, "signature")?;
    check_index(file, start, entries, data, "main")?;
    Ok((start, end))
}

/// Every index entry of the header at `at` must point into its data section,
/// with room for its values when they have a fixed size (rpm's `hdrchkRange`
/// and `hdrchkData`): the `rpm` crate trusts the offsets and would panic.
fn check_index(
    file: &mut File,
    at: u64,
    entries: u64,
    data: u64,
    which: &str,
) -> Result<(), YumError> {
    let mut index = vec![0u8; (16 * entries) as usize];
    file.seek(SeekFrom::Start(at + PREAMBLE_SIZE))
        .map_err(YumError::io)?;
    file.read_exact(&mut index).map_err(YumError::io)?;
    for entry in index.chunks_exact(16) {
        let word = |i: usize| {
            u64::from(u32::from_be_bytes([
                entry[i],
                entry[i + 1],
                entry[i + 2],
                entry[i + 3],
            ]))
        };
        let (kind, offset, count) = (word(4), word(8), word(12));
        let item_size = match kind {
            1 | 2 | 7 => 1, // char, int8, bin
            3 => 2,
            4 => 4,
            5 => 8,
            _ => 0, // null and strings: at least a NUL, checked by the parser
        };
        let needed = if kind == 0 {
            0
        } else {
            count.max(1) * item_size.max(1)
        };
        if kind > 9 || offset + needed > data {
            return Err(YumError::BadRpm(format!(
                "the RPM {which} header is corrupt: an entry lies outside its data"
            )));
        }
    }
    Ok(())
}

/// Entry count and data size of the header at `at`.
fn preamble(file: &mut File, at: u64, size: u64, which: &str) -> Result<(u64, u64), YumError> {
    let mut buf = [0u8; PREAMBLE_SIZE as usize];
    read_at(file, at, &mut buf, size)?;
    if buf[..3] != HEADER_MAGIC {
        return Err(YumError::BadRpm(format!(
            "not an RPM file (bad {which} header magic)"
        )));
    }
    let entries = u64::from(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]));
    let data = u64::from(u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]));
    if entries == 0 || entries > MAX_ENTRIES || data > MAX_DATA {
        return Err(YumError::BadRpm(format!(
            "the RPM {which} header is out of bounds ({entries} entries, {data} bytes)"
        )));
    }
    Ok((entries, data))
}

fn read_at(file: &mut File, at: u64, buf: &mut [u8], size: u64) -> Result<(), YumError> {
    if at + buf.len() as u64 > size {
        return Err(YumError::BadRpm(format!(
            "the file is truncated: {size} bytes, not a complete RPM"
        )));
    }
    file.seek(SeekFrom::Start(at)).map_err(YumError::io)?;
    file.read_exact(buf).map_err(YumError::io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A small package written by the `rpm` crate's builder.
    fn package_bytes() -> Vec<u8> {
        let package = rpm::PackageBuilder::new("t", "1.0", "MIT", "noarch", "a test package")
            .using_config(rpm::BuildConfig::default().compression(rpm::CompressionType::None))
            .with_file_contents(vec![b'x'; 3000], rpm::FileOptions::new("/usr/share/t/data"))
            .expect("file")
            .build()
            .expect("package");
        let mut bytes = Vec::new();
        package.write(&mut bytes).expect("write");
        bytes
    }

    fn check(bytes: &[u8]) -> Result<CheckedRpm, YumError> {
        check_in(&tempfile::tempdir().expect("tempdir"), bytes)
    }

    fn check_in(dir: &tempfile::TempDir, bytes: &[u8]) -> Result<CheckedRpm, YumError> {
        let path = dir.path().join("p.rpm");
        std::fs::write(&path, bytes).expect("write");
        read_rpm(&path, bytes.len() as u64)
    }

    #[test]
    fn a_whole_package_reads_and_truncations_are_refused() {
        let bytes = package_bytes();
        let rpm = check(&bytes).expect("whole package");
        assert_eq!(rpm.metadata.get_name().expect("name"), "t");
        assert!(rpm.header_start < rpm.header_end && rpm.header_end < bytes.len() as u64);
        let dir = tempfile::tempdir().expect("tempdir");
        // Every cut inside the headers and near the end; every 37th in the payload.
        let end = rpm.header_end as usize;
        let cuts = (0..end + 64)
            .chain((end + 64..bytes.len()).step_by(37))
            .chain(bytes.len() - 64..bytes.len());
        for len in cuts {
            match check_in(&dir, &bytes[..len]) {
                Err(YumError::BadRpm(_)) => {}
                other => panic!("{len} of {} bytes: {:?}", bytes.len(), other.err()),
            }
        }
    }

    #[test]
    fn a_payload_hashed_during_the_copy_is_checked_like_a_read_one() {
        let bytes = package_bytes();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.rpm");
        std::fs::write(&path, &bytes).expect("write");
        let size = bytes.len() as u64;
        let start = payload_start(&mut File::open(&path).expect("open"), size).expect("an RPM");
        // Odd read sizes, so that one read straddles the payload's start.
        let mut copy = Vec::new();
        let mut hasher = PayloadHasher::new(&bytes[..], start);
        let mut buf = [0u8; 333];
        loop {
            let n = hasher.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            copy.extend_from_slice(&buf[..n]);
        }
        assert_eq!(copy, bytes);
        let (at, digest) = hasher.finish();
        read_rpm_hashed(&path, size, Some((at, digest))).expect("the right digest");
        let mut wrong = digest;
        wrong[0] ^= 1;
        assert!(matches!(
            read_rpm_hashed(&path, size, Some((at, wrong))),
            Err(YumError::BadRpm(_))
        ));
        // A digest taken from elsewhere than the payload's start is not used.
        read_rpm_hashed(&path, size, Some((at + 1, wrong))).expect("hashed again");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_changed_payload_byte_is_refused(at in 0usize..3000, flip in 1u8..=255) {
            let mut bytes = package_bytes();
            let start = check(&bytes).expect("whole").header_end as usize;
            let i = start + at % (bytes.len() - start);
            bytes[i] ^= flip;
            prop_assert!(matches!(check(&bytes), Err(YumError::BadRpm(_))));
        }

        #[test]
        fn changed_header_bytes_never_panic(
            flips in proptest::collection::vec((0usize..4096, 1u8..=255), 1..8),
        ) {
            let mut bytes = package_bytes();
            for (at, flip) in flips {
                let i = at % bytes.len();
                bytes[i] ^= flip;
            }
            // Refused or read: never a panic. What reads must also give metadata.
            if let Ok(rpm) = check(&bytes) {
                let facts = crate::fragments::FileFacts {
                    pkgid: "00",
                    size: bytes.len() as u64,
                    href: "p.rpm",
                    time_file: 0,
                };
                let _ = crate::fragments::package_entry(&rpm, &facts);
            }
        }

        #[test]
        fn garbage_is_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            prop_assert!(check(&bytes).is_err());
        }
    }
}
