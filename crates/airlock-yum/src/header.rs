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
            file.seek(SeekFrom::Start(header_end))
                .map_err(YumError::io)?;
            let mut hasher = Sha256::new();
            std::io::copy(&mut file, &mut hasher).map_err(YumError::io)?;
            if hex::encode(hasher.finalize()) != expected {
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
    Ok((start, end))
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
