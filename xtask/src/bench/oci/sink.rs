//! The cheapest registry a push can go to: it speaks just enough of the
//! distribution spec's upload protocol for skopeo (`/v2/` ping, blob `HEAD`
//! answered 404, `POST` → `PATCH` → `PUT ?digest=`, manifest `PUT`) and
//! discards every byte it is sent, unhashed and unstored. A push to it
//! measures the client: no registry can take a push faster than skopeo
//! sends it here.

use sha2::{Digest as _, Sha256};
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes read from the socket at a time: as large as a registry's reads.
const READ_BUFFER: usize = 1 << 20;

/// A discarding registry on loopback, serving until the bench exits.
pub struct Sink {
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

/// Starts the sink on a free port, on threads of this process.
pub fn start() -> Result<Sink, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let uploads = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let uploads = Arc::clone(&uploads);
            // A connection that breaks (skopeo's TLS probe first) just ends.
            std::thread::spawn(move || serve(stream, &uploads).ok());
        }
    });
    Ok(Sink { base })
}

/// One request's head.
struct Head {
    method: String,
    path: String,
    length: Option<u64>,
    chunked: bool,
    expect_continue: bool,
}

/// Answers the requests of one connection until it closes.
fn serve(stream: TcpStream, uploads: &AtomicU64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::with_capacity(READ_BUFFER, stream);
    while let Some(head) = read_head(&mut input)? {
        if head.expect_continue {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut digest = Sha256::new();
        let is_manifest = head.path.contains("/manifests/");
        let mut keep = |bytes: &[u8]| {
            if is_manifest {
                digest.update(bytes);
            }
        };
        let received = match (head.chunked, head.length) {
            (true, _) => discard_chunked(&mut input, &mut keep)?,
            (false, Some(len)) => discard(&mut input, len, &mut keep)?,
            (false, None) => 0,
        };
        let reply = answer(&head, received, uploads, &hex(&digest.finalize()));
        out.write_all(reply.as_bytes())?;
    }
    Ok(())
}

/// The answer to a request whose body (`received` bytes) was read.
fn answer(head: &Head, received: u64, uploads: &AtomicU64, manifest_hex: &str) -> String {
    let path = head.path.split('?').next().unwrap_or("");
    let query = head.path.split_once('?').map_or("", |(_, q)| q);
    let (status, headers, body) = match head.method.as_str() {
        "GET" if path == "/v2/" => ("200 OK", String::new(), "{}"),
        "POST" if path.ends_with("/blobs/uploads/") => {
            let id = uploads.fetch_add(1, Ordering::Relaxed);
            let location = format!("{path}{id}");
            (
                "202 Accepted",
                format!("Location: {location}\r\nRange: 0-0\r\nDocker-Upload-UUID: {id}\r\n"),
                "",
            )
        }
        "PATCH" if path.contains("/blobs/uploads/") => (
            "202 Accepted",
            format!(
                "Location: {path}\r\nRange: 0-{}\r\n",
                received.saturating_sub(1)
            ),
            "",
        ),
        "PUT" if path.contains("/blobs/uploads/") => {
            let digest = query
                .split('&')
                .find_map(|p| p.strip_prefix("digest="))
                .unwrap_or("")
                .replace("%3A", ":")
                .replace("%3a", ":");
            let repo = path.split("/blobs/").next().unwrap_or("");
            (
                "201 Created",
                format!("Location: {repo}/blobs/{digest}\r\nDocker-Content-Digest: {digest}\r\n"),
                "",
            )
        }
        "PUT" if path.contains("/manifests/") => (
            "201 Created",
            format!("Location: {path}\r\nDocker-Content-Digest: sha256:{manifest_hex}\r\n"),
            "",
        ),
        _ => (
            "404 Not Found",
            "Content-Type: application/json\r\n".to_owned(),
            r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"discarded"}]}"#,
        ),
    };
    let body = if head.method == "HEAD" { "" } else { body };
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nDocker-Distribution-API-Version: registry/2.0\r\n\r\n{body}",
        body.len()
    )
}

/// Reads a request line and headers; `None` when the connection closed.
fn read_head(input: &mut BufReader<TcpStream>) -> io::Result<Option<Head>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::other("not HTTP"));
    };
    let mut head = Head {
        method: method.to_owned(),
        path: path.to_owned(),
        length: None,
        chunked: false,
        expect_continue: false,
    };
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            return Ok(Some(head));
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => head.length = value.parse().ok(),
            "transfer-encoding" => head.chunked = value.eq_ignore_ascii_case("chunked"),
            "expect" => head.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
}

/// Reads and drops `len` bytes, straight from the read buffer.
fn discard(
    input: &mut BufReader<TcpStream>,
    mut len: u64,
    keep: &mut impl FnMut(&[u8]),
) -> io::Result<u64> {
    let total = len;
    while len > 0 {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = buf.len().min(len as usize);
        keep(&buf[..n]);
        input.consume(n);
        len -= n as u64;
    }
    Ok(total)
}

/// Reads and drops a chunked body; returns its length.
fn discard_chunked(
    input: &mut BufReader<TcpStream>,
    keep: &mut impl FnMut(&[u8]),
) -> io::Result<u64> {
    let mut total = 0;
    let mut line = String::new();
    loop {
        line.clear();
        input.read_line(&mut line)?;
        let size = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size, 16).map_err(io::Error::other)?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                line.clear();
                if input.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(total);
                }
            }
        }
        total += discard(input, size, keep)?;
        let mut crlf = [0u8; 2];
        input.read_exact(&mut crlf)?;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
