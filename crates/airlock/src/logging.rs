//! The log: tracing's usual layout on stderr, made cheap enough to write one line
//! per request.
//!
//! - [`LeanFormat`] writes the same text as tracing-subscriber's default (`Full`)
//!   format without colours, with fewer formatting calls: the date and time are
//!   formatted once per second, numbers and names without styling wrappers.
//!   Events inside spans (airlock opens none) and coloured output (a terminal)
//!   use the stock formatter.
//! - [`BatchedStderr`] collects lines in memory and a thread of its own writes
//!   them at most [`FLUSH_DELAY`] later, many per `write`: one system call per
//!   line was a twelfth of a small request's CPU. Warnings and errors are written
//!   at once, with everything before them. The price: a crash (`kill -9`, an
//!   abort) loses the `info` lines of its last moment; a clean exit loses nothing
//!   ([`FlushGuard`]).
//!
//!   A request never waits for that write: the thread swaps the pending lines
//!   out and writes them after letting go of them. While lines keep arriving it
//!   stays awake, ticking every [`FLUSH_DELAY`], so a busy server's requests do
//!   not have to wake it (a futex call and a wake-up on the other core each
//!   time); it goes back to sleep after [`IDLE_TICKS`] empty ticks.

use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::field::VisitOutput as _;
use tracing_subscriber::fmt::format::{DefaultVisitor, Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime as _;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// How long an `info` line may wait in memory before it is written.
pub const FLUSH_DELAY: Duration = Duration::from_millis(1);

/// Empty ticks after which the flushing thread sleeps until a line arrives.
pub const IDLE_TICKS: u32 = 100;

/// Lines kept before a writer writes them itself, without waiting for the
/// flushing thread (bounds memory when stderr is slow).
const MAX_BUFFERED: usize = 256 << 10;

/// Sets up the log on stderr with `filter` (`EnvFilter` syntax; `info` if it
/// does not parse). Keep the guard until the end: dropping it writes what is left.
pub fn init(filter: &str) -> FlushGuard {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = BatchedStderr::start();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        builder.with_ansi(true).init();
    } else {
        builder
            .with_ansi(false)
            .event_format(LeanFormat::new())
            .init();
    }
    guard
}

/// The `Full` layout without colours and without target; see the module notes.
pub struct LeanFormat {
    /// For events inside spans.
    stock: Format<Full>,
}

impl LeanFormat {
    /// The formatter.
    pub fn new() -> Self {
        LeanFormat {
            stock: Format::default().with_target(false).with_ansi(false),
        }
    }
}

impl Default for LeanFormat {
    fn default() -> Self {
        LeanFormat::new()
    }
}

impl<S, N> FormatEvent<S, N> for LeanFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if ctx.event_scope().is_some() {
            return self.stock.format_event(ctx, writer, event);
        }
        write_timestamp(&mut writer)?;
        writer.write_str(match *event.metadata().level() {
            Level::TRACE => "TRACE ",
            Level::DEBUG => "DEBUG ",
            Level::INFO => " INFO ",
            Level::WARN => " WARN ",
            Level::ERROR => "ERROR ",
        })?;
        let mut fields = LeanFields {
            writer: writer.by_ref(),
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Writes `name=value` pairs as tracing's `DefaultVisitor` does (values in their
/// `Debug` form, separated by spaces, the message first and bare); the message,
/// errors and `log.` fields are left to `DefaultVisitor` itself.
struct LeanFields<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl LeanFields<'_> {
    fn pad(&mut self) -> fmt::Result {
        if std::mem::take(&mut self.first) {
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    /// ` name=<value>`, with the name as `DefaultVisitor` shows it.
    fn pair(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.write_pair(field, value);
        }
    }

    fn write_pair(
        &mut self,
        field: &Field,
        value: impl FnOnce(&mut Writer<'_>) -> fmt::Result,
    ) -> fmt::Result {
        let name = field.name();
        self.pad()?;
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')?;
        value(&mut self.writer)
    }

    /// Lets `DefaultVisitor` write the field (it also skips `log.` fields).
    fn delegate(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let skipped = field.name().starts_with("log.");
        let mut inner = DefaultVisitor::new(self.writer.by_ref(), self.first);
        record(&mut inner);
        self.result = inner.finish();
        self.first &= skipped;
    }
}

impl Visit for LeanFields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pair(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pair(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.delegate(field, |v| v.record_str(field, value)),
            _ => self.pair(field, |w| write!(w, "{value:?}")),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.delegate(field, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name == "message" || name.starts_with("log.") {
            self.delegate(field, |v| v.record_debug(field, value));
        } else {
            self.pair(field, |w| write!(w, "{value:?}"));
        }
    }
}

/// `2026-11-25T21:04:05.123456Z ` as tracing's `SystemTime` timer writes it,
/// which formats the date and time only when the second changes.
fn write_timestamp(writer: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        /// (unix second, `2026-11-25T21:04:05`).
        static SECOND: std::cell::RefCell<(u64, String)> = const {
            std::cell::RefCell::new((u64::MAX, String::new()))
        };
    }
    let since_epoch = |t: SystemTime| t.duration_since(UNIX_EPOCH).ok();
    let Some(mut now) = since_epoch(SystemTime::now()) else {
        return stock_timestamp(writer);
    };
    SECOND.with_borrow_mut(|(second, text)| {
        // A new second: the stock timer formats "now" again, which is taken
        // (with that "now") when no second boundary fell in between.
        for _ in 0..3 {
            if *second == now.as_secs() {
                break;
            }
            let mut formatted = String::new();
            let before = since_epoch(SystemTime::now());
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut formatted))?;
            let after = since_epoch(SystemTime::now());
            if let (Some(before), Some(after), Some((date_time, _))) =
                (before, after, formatted.split_once('.'))
            {
                if before.as_secs() == after.as_secs() {
                    (*second, now) = (before.as_secs(), before);
                    text.clear();
                    text.push_str(date_time);
                }
            }
        }
        if *second != now.as_secs() {
            return stock_timestamp(writer);
        }
        write!(writer, "{text}.{:06}Z ", now.subsec_micros())
    })
}

fn stock_timestamp(writer: &mut Writer<'_>) -> fmt::Result {
    if tracing_subscriber::fmt::time::SystemTime
        .format_time(writer)
        .is_err()
    {
        writer.write_str("<unknown time>")?;
    }
    writer.write_char(' ')
}

/// Lines on their way to stderr; see the module notes.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<Pending>,
    /// Where lines go: stderr (tests: a buffer).
    out: Mutex<Box<dyn std::io::Write + Send>>,
    /// Wakes the flushing thread when the first line arrives.
    arrived: Condvar,
}

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    /// The flushing thread sleeps until a line arrives: the next writer wakes it.
    flusher_idle: bool,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the pending lines; the caller holds the lock, so lines keep their order.
    fn write_out(&self, pending: &mut Pending) {
        if !pending.lines.is_empty() {
            let mut out = self.out();
            // Nothing sensible to do when stderr fails; tracing ignores it too.
            let _ = out.write_all(&pending.lines).and_then(|()| out.flush());
            pending.lines.clear();
        }
    }

    fn out(&self) -> MutexGuard<'_, Box<dyn std::io::Write + Send>> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The flushing thread's write: the lines are swapped into `batch` and
    /// written after `pending` is let go, so writers only wait for the swap. The
    /// output is locked before `pending` is let go, which keeps the order with
    /// an urgent writer (it takes `pending`, then the output). Returns whether
    /// there was anything to write.
    fn write_batch(&self, mut pending: MutexGuard<'_, Pending>, batch: &mut Vec<u8>) -> bool {
        if pending.lines.is_empty() {
            return false;
        }
        std::mem::swap(&mut pending.lines, batch);
        let mut out = self.out();
        drop(pending);
        let _ = out.write_all(batch).and_then(|()| out.flush());
        batch.clear();
        true
    }
}

/// Writes out what is left when dropped, and stops the flushing thread.
pub struct FlushGuard {
    shared: Arc<Shared>,
    flusher: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.arrived.notify_one();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        let mut pending = self.shared.lock();
        self.shared.write_out(&mut pending);
    }
}

impl BatchedStderr {
    /// Starts the flushing thread, writing to stderr.
    pub fn start() -> (BatchedStderr, FlushGuard) {
        BatchedStderr::start_to(Box::new(std::io::stderr()))
    }

    fn start_to(out: Box<dyn std::io::Write + Send>) -> (BatchedStderr, FlushGuard) {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            out: Mutex::new(out),
            arrived: Condvar::new(),
        });
        let flushing = Arc::clone(&shared);
        let flusher = std::thread::Builder::new()
            .name("airlock-log".into())
            .spawn(move || flush_loop(&flushing))
            .ok();
        // Without a flushing thread, every line is written at once.
        shared.lock().closed = flusher.is_none();
        let writer = BatchedStderr {
            shared: Arc::clone(&shared),
        };
        (writer, FlushGuard { shared, flusher })
    }
}

fn flush_loop(shared: &Shared) {
    let mut batch = Vec::new();
    loop {
        let mut pending = shared.lock();
        while pending.lines.is_empty() && !pending.closed {
            pending.flusher_idle = true;
            pending = shared
                .arrived
                .wait(pending)
                .unwrap_or_else(|p| p.into_inner());
        }
        pending.flusher_idle = false;
        if pending.closed {
            return; // the guard writes the rest
        }
        drop(pending);
        // Awake: a write per tick while lines keep coming.
        let mut empty_ticks = 0;
        while empty_ticks < IDLE_TICKS {
            // Let more lines join this write.
            std::thread::sleep(FLUSH_DELAY);
            let pending = shared.lock();
            if pending.closed {
                return;
            }
            if shared.write_batch(pending, &mut batch) {
                empty_ticks = 0;
            } else {
                empty_ticks += 1;
            }
        }
    }
}

/// One event's line (tracing writes each in one `write_all`).
pub struct LineWriter<'a> {
    shared: &'a Shared,
    /// Warnings and errors are written at once.
    urgent: bool,
}

impl std::io::Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.shared.lock();
        pending.lines.extend_from_slice(line);
        // Once the flushing thread is gone (or never started), lines go at once.
        if self.urgent || pending.closed || pending.lines.len() >= MAX_BUFFERED {
            self.shared.write_out(&mut pending);
        } else if std::mem::take(&mut pending.flusher_idle) {
            self.shared.arrived.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

/// An error and its causes, `outer: cause: root`, each cause once: an error
/// whose message already ends with its cause's (thiserror's `"…: {0}"` on a
/// `#[from]` field) does not repeat it.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let message = error.to_string();
            if !shown.ends_with(&message) {
                write!(f, ": {message}")?;
            }
            shown = message;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn some_events() {
        let path = "/go/example.com/%21upper/@v/v1.0.0.info";
        tracing::info!(method = %"GET", path = %path, status = 200u16, bytes = 51u64,
            duration_ms = format_args!("{:.3}", 0.337859), cache = %"HIT", "request");
        tracing::warn!(
            module = "example.com/a",
            r#type = "zip",
            ok = true,
            n = -3i64,
            "upstream failed; trying the next one"
        );
        let e = std::io::Error::other("disk full");
        tracing::error!(
            error = &e as &(dyn std::error::Error + 'static),
            "could not store"
        );
        tracing::info!("no fields");
        tracing::info!(answer = 42, "{} and {:?}", "formatted", "quoted\u{1b}[31m");
        tracing::info!(message = "explicit", quoted = "a \"b\"\n");
        tracing::info!(ratio = 0.1 + 0.2, list = ?vec![1, 2], "floats and debug");
    }

    /// Lines with their timestamps (which differ between runs) cut off.
    fn lines_of(sink: &Sink) -> Vec<String> {
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        text.lines()
            .map(|l| {
                let (time, rest) = l.split_once(' ').expect("timestamp");
                assert_eq!(time.len(), "2026-11-25T21:04:05.123456Z".len(), "{l}");
                assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{l}");
                rest.to_owned()
            })
            .collect()
    }

    #[test]
    fn lean_lines_are_the_stock_lines() {
        let stock = Sink::default();
        let writer = stock.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_target(false)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, some_events);
        let lean = Sink::default();
        let writer = lean.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_target(false)
            .with_ansi(false)
            .event_format(LeanFormat::new())
            .finish();
        tracing::subscriber::with_default(subscriber, some_events);
        let (stock, lean) = (lines_of(&stock), lines_of(&lean));
        assert_eq!(stock.len(), 7);
        assert_eq!(lean, stock);
        assert_eq!(
            lean[0],
            " INFO request method=GET path=/go/example.com/%21upper/@v/v1.0.0.info status=200 bytes=51 duration_ms=0.338 cache=HIT"
        );
    }

    #[test]
    fn the_timestamp_is_the_stock_one() {
        let (mut lean, mut stock) = (String::new(), String::new());
        write_timestamp(&mut Writer::new(&mut lean)).expect("lean");
        stock_timestamp(&mut Writer::new(&mut stock)).expect("stock");
        // Same second (unless one just ended), same layout.
        assert_eq!(lean.len(), stock.len());
        assert!(lean[..19] == stock[..19] || lean[17..19] != stock[17..19]);
    }

    #[test]
    fn info_lines_wait_briefly_urgent_ones_take_them_along_in_order() {
        let sink = Sink::default();
        let (writer, guard) = BatchedStderr::start_to(Box::new(sink.clone()));
        let written = || String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        let line = |urgent: bool, text: &str| {
            let mut w = LineWriter {
                shared: &writer.shared,
                urgent,
            };
            w.write_all(text.as_bytes()).expect("write");
        };
        line(false, "info 1\n");
        line(false, "info 2\n");
        line(true, "warn 3\n");
        assert_eq!(written(), "info 1\ninfo 2\nwarn 3\n");
        line(false, "info 4\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while written().len() < 28 && std::time::Instant::now() < deadline {
            std::thread::sleep(FLUSH_DELAY);
        }
        assert_eq!(
            written(),
            "info 1\ninfo 2\nwarn 3\ninfo 4\n",
            "by the flushing thread"
        );
        line(false, "info 5\n");
        drop(guard);
        assert!(
            written().ends_with("info 4\ninfo 5\n"),
            "the rest at the end"
        );
        line(false, "info 6\n");
        assert!(written().ends_with("info 6\n"), "afterwards, at once");
    }

    #[test]
    fn warnings_are_written_at_once_with_the_lines_before_them() {
        let sink = Sink::default();
        let (writer, _guard) = BatchedStderr::start_to(Box::new(sink.clone()));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .event_format(LeanFormat::new())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("first");
            tracing::warn!("second");
        });
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        assert!(text.contains(" INFO first\n"), "{text}");
        assert!(text.ends_with(" WARN second\n"), "{text}");
    }

    /// An error whose message ends with its cause's, as thiserror's `"…: {0}"`
    /// with `#[from]` makes them.
    #[derive(Debug)]
    struct Wrapping(&'static str, Box<dyn std::error::Error + Send + Sync>);

    impl fmt::Display for Wrapping {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}: {}", self.0, self.1)
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    #[test]
    fn each_cause_is_shown_once() {
        let io = std::io::Error::other("No space left on device");
        let store = Wrapping("blob store I/O", Box::new(io));
        let e =
            anyhow::Error::new(Wrapping("store error", Box::new(store))).context("importing x.zip");
        assert_eq!(
            Chain(e.as_ref()).to_string(),
            "importing x.zip: store error: blob store I/O: No space left on device"
        );
        // Causes not in their parent's message are all shown.
        let e = anyhow::anyhow!("root").context("middle").context("top");
        assert_eq!(Chain(e.as_ref()).to_string(), "top: middle: root");
    }
}
