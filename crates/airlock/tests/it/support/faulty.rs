//! An upstream on loopback that serves a directory and injects faults by path:
//! error statuses, truncated bodies, hangs, replaced bodies. It counts requests,
//! so tests can prove single-flight and that offline mode never connects.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do for a path instead of serving the file.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and a short body.
    Status(u16),
    /// Declare the full length, send only this many bytes, close.
    Truncate(usize),
    /// Send headers and this many bytes, then stall for this long.
    Stall(usize, Duration),
    /// Serve these bytes.
    Body(Vec<u8>),
    /// Declare this Content-Length and send nothing more (then close).
    DeclareOnly(u64),
    /// Declare this Content-Length, shorter than the file, then send the whole
    /// file and close: a client that trusts the length gets the file cut short.
    ShortLength(u64),
    /// Delay before serving the real file.
    Slow(Duration),
    /// Send headers and this many bytes, then the rest once the gate is
    /// opened ([`Faulty::open_gate`]).
    Gate(usize),
    /// Answer with this status (429 or 503) and `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
}

#[derive(Default)]
struct State {
    faults: Mutex<HashMap<String, Fault>>,
    hits: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    gate_open: (Mutex<bool>, std::sync::Condvar),
}

/// The running upstream (a background thread per connection).
pub struct Faulty {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    state: Arc<State>,
}

impl Faulty {
    /// Serves `root` on an ephemeral loopback port.
    pub fn start(root: &Path) -> Faulty {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(State::default());
        let (root, st) = (root.to_owned(), state.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, st) = (root.clone(), st.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &root, &st);
                });
            }
        });
        Faulty { base, state }
    }

    /// Injects `fault` for requests to `path` (e.g. `/example.com/m/@v/v1.0.0.zip`).
    pub fn set(&self, path: &str, fault: Fault) {
        self.state
            .faults
            .lock()
            .expect("lock")
            .insert(path.to_owned(), fault);
    }

    /// Serves `path` normally again.
    pub fn clear(&self, path: &str) {
        self.state.faults.lock().expect("lock").remove(path);
    }

    /// Requests seen for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .hits
            .lock()
            .expect("lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Lets every request held at a [`Fault::Gate`] go on (`true`), or holds
    /// the next ones (`false`).
    pub fn open_gate(&self, open: bool) {
        let (lock, opened) = &self.state.gate_open;
        *lock.lock().expect("lock") = open;
        opened.notify_all();
    }

    /// Requests seen in all.
    pub fn total(&self) -> usize {
        self.state.total.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, root: &Path, state: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    state.total.fetch_add(1, Ordering::SeqCst);
    *state
        .hits
        .lock()
        .expect("lock")
        .entry(path.clone())
        .or_default() += 1;
    let fault = state.faults.lock().expect("lock").get(&path).cloned();
    let file: PathBuf = root.join(path.trim_start_matches('/'));
    let body = || std::fs::read(&file).ok();
    let head =
        |len: u64| format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
    match fault {
        Some(Fault::Status(code)) => {
            let msg = format!("injected {code}\n");
            write!(
                stream,
                "HTTP/1.1 {code} Injected\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                msg.len()
            )?;
        }
        Some(Fault::Truncate(n)) => {
            let data = body().unwrap_or_default();
            stream.write_all(head(data.len() as u64).as_bytes())?;
            stream.write_all(&data[..n.min(data.len())])?;
        }
        Some(Fault::Stall(n, time)) => {
            let data = body().unwrap_or_default();
            stream.write_all(head(data.len() as u64).as_bytes())?;
            stream.write_all(&data[..n.min(data.len())])?;
            stream.flush()?;
            std::thread::sleep(time);
        }
        Some(Fault::Body(data)) => {
            stream.write_all(head(data.len() as u64).as_bytes())?;
            stream.write_all(&data)?;
        }
        Some(Fault::DeclareOnly(len)) => {
            stream.write_all(head(len).as_bytes())?;
        }
        Some(Fault::ShortLength(len)) => {
            stream.write_all(head(len).as_bytes())?;
            stream.write_all(&body().unwrap_or_default())?;
        }
        Some(Fault::Gate(n)) => {
            let data = body().unwrap_or_default();
            stream.write_all(head(data.len() as u64).as_bytes())?;
            stream.write_all(&data[..n.min(data.len())])?;
            stream.flush()?;
            let (lock, opened) = &state.gate_open;
            let mut open = lock.lock().expect("lock");
            while !*open {
                open = opened.wait(open).expect("lock");
            }
            drop(open);
            stream.write_all(&data[n.min(data.len())..])?;
        }
        Some(Fault::RetryAfter(code, secs)) => {
            write!(
                stream,
                "HTTP/1.1 {code} Wait\r\nRetry-After: {secs}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nwait\n"
            )?;
        }
        Some(Fault::Slow(time)) => {
            std::thread::sleep(time);
            send_file(&mut stream, body())?;
        }
        None => send_file(&mut stream, body())?,
    }
    stream.flush()
}

fn send_file(stream: &mut TcpStream, data: Option<Vec<u8>>) -> std::io::Result<()> {
    match data {
        Some(data) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                data.len()
            )?;
            stream.write_all(&data)
        }
        None => stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
        ),
    }
}
