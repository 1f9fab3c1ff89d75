//! The SQLite metadata index: pools, migrations, and the core `blob` table.
//!
//! SQL here and in the protocol crates' index modules is written to run on
//! PostgreSQL as well (`$N` placeholders, `ON CONFLICT`, no SQLite-only functions),
//! so a shared PostgreSQL index can follow without rewriting queries.

use crate::digest::Digest;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Row, Sqlite, SqliteConnection};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard, Semaphore, SemaphorePermit};

/// The index: one connection for writes (SQLite has one writer, and waiting for
/// it here is cheaper than `SQLITE_BUSY` retries) and up to [`READERS`] read-only
/// connections, opened as they are first needed.
///
/// Connections are held directly rather than in an `sqlx` pool: each sqlx
/// SQLite connection is a thread, and the pool pings it on every checkout and
/// every return, so a one-statement lookup cost three round trips to that
/// thread. An SQLite file cannot drop a connection the way a network peer can.
#[derive(Clone, Debug)]
pub struct Db(Arc<Connections>);

#[derive(Debug)]
struct Connections {
    writer: Mutex<SqliteConnection>,
    /// Empty for an in-memory database: the writer serves reads too.
    readers: Vec<Mutex<Option<SqliteConnection>>>,
    read_options: SqliteConnectOptions,
    /// One permit per reader: a lookup takes one before it takes a reader,
    /// so when every reader is busy it waits for whichever is freed first.
    free_readers: Semaphore,
    /// The write-ahead log, whose size and modification time change with every
    /// commit of any process; `None` for an in-memory database.
    wal: Option<PathBuf>,
}

/// What [`Db::change_stamp`] returns: equal stamps mean no commit in between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

/// Read-only connections at most.
const READERS: usize = 4;

/// A connection checked out for reading; an executor (`&mut *conn`).
pub struct ReadConn<'a> {
    // Declared (so dropped) before the permit: whoever takes the permit next
    // finds this reader unlocked.
    conn: MappedMutexGuard<'a, SqliteConnection>,
    _permit: Option<SemaphorePermit<'a>>,
}

impl std::ops::Deref for ReadConn<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for ReadConn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

/// A database error; callers map it to their protocol's 500.
pub type DbError = sqlx::Error;

/// A table column that references blobs: fsck and garbage collection read these.
#[derive(Clone, Copy, Debug)]
pub struct BlobReference {
    /// The table holding the reference.
    pub table: &'static str,
    /// The column holding a `sha256:` digest.
    pub column: &'static str,
}

/// How long a statement waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl Db {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Db, DbError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a process crash loses nothing; a power loss may drop the
            // last transactions, which leaves unreferenced blobs, never dangling rows.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Reads through a mapping of the file's first 256 MiB instead of a
            // pread per page: a YUM publish reads every package row, and in a
            // new process (`airlock yum add`) that took 8-17 ms of preads, 5-6
            // with the mapping. Writes still go through the WAL. The trade: an
            // I/O error reading the file raises SIGBUS instead of an error,
            // and the mapped pages count in the RSS (they are the page cache).
            .pragma("mmap_size", "268435456");
        let mut writer = options.connect().await?;
        migrate(&mut writer).await?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Db(Arc::new(Connections {
            writer: Mutex::new(writer),
            readers: (0..READERS).map(|_| Mutex::new(None)).collect(),
            read_options: options.read_only(true),
            free_readers: Semaphore::new(READERS),
            wal: Some(wal.into()),
        })))
    }

    /// An in-memory database for unit tests (one connection serves both roles).
    pub async fn in_memory() -> Result<Db, DbError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let mut writer = options.connect().await?;
        migrate(&mut writer).await?;
        Ok(Db(Arc::new(Connections {
            writer: Mutex::new(writer),
            readers: Vec::new(),
            read_options: options,
            free_readers: Semaphore::new(0),
            wal: None,
        })))
    }

    /// A connection to read with: an idle open one, else a new one while
    /// fewer than [`READERS`] are open, else the first one another task frees.
    /// A task may hold one while it asks for another (a stream of rows holds
    /// its connection); only tasks that each hold one and all wait for
    /// another wait forever.
    pub async fn reader(&self) -> Result<ReadConn<'_>, DbError> {
        let readers = &self.0.readers;
        if readers.is_empty() {
            return Ok(ReadConn {
                conn: MutexGuard::map(self.writer().await, |conn| conn),
                _permit: None,
            });
        }
        // Never closed, so this only waits.
        let permit = self
            .0
            .free_readers
            .acquire()
            .await
            .map_err(|_| DbError::PoolClosed)?;
        // With the permit, at least one reader is unlocked: each holder of a
        // reader holds a permit until after it unlocks the reader.
        let mut unopened = None;
        for slot in readers {
            if let Ok(conn) = slot.try_lock() {
                if conn.is_some() {
                    return self.open_reader(conn, permit).await;
                }
                unopened.get_or_insert(conn);
            }
        }
        match unopened {
            Some(conn) => self.open_reader(conn, permit).await,
            None => Err(DbError::Protocol(
                "no reader unlocked for a free permit".into(),
            )),
        }
    }

    /// Opens the connection in `slot` if it is not yet.
    async fn open_reader<'a>(
        &self,
        mut slot: MutexGuard<'a, Option<SqliteConnection>>,
        permit: SemaphorePermit<'a>,
    ) -> Result<ReadConn<'a>, DbError> {
        let conn = match slot.take() {
            Some(conn) => conn,
            None => self.0.read_options.connect().await?,
        };
        Ok(ReadConn {
            conn: MutexGuard::map(slot, |slot| slot.insert(conn)),
            _permit: Some(permit),
        })
    }

    /// The connection to write with; keep its transactions short and never hold
    /// it across blob I/O.
    pub async fn writer(&self) -> MutexGuard<'_, SqliteConnection> {
        self.0.writer.lock().await
    }

    /// A stamp that changes whenever any process commits to the index: the
    /// size and modification time of SQLite's write-ahead log, which every
    /// commit appends to (and a checkpoint restarts). One `statx`, no query:
    /// what lets answers kept in memory ([`crate::memo`]) see `airlock sync`
    /// and `airlock yum add` at once. (A shared PostgreSQL index will need its
    /// own signal, such as `LISTEN`/`NOTIFY`.)
    pub fn change_stamp(&self) -> ChangeStamp {
        let Some(wal) = &self.0.wal else {
            return ChangeStamp::default();
        };
        match std::fs::metadata(wal) {
            Ok(meta) => ChangeStamp {
                len: meta.len(),
                modified: meta.modified().ok(),
            },
            Err(_) => ChangeStamp::default(),
        }
    }

    /// Copies the write-ahead log into the database file and empties it, as
    /// far as other processes' readers allow at once (it never waits for
    /// them). A command that wrote much calls this before it exits: it does
    /// not close its connections, which would do the same, and the next
    /// process to open the index reads the whole log first (the 3.4 MB that
    /// `airlock yum add` of 500 RPMs left made the next one 5-10 ms slower).
    pub async fn checkpoint(&self) -> Result<(), DbError> {
        let mut conn = self.writer().await;
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut *conn)
            .await?;
        let checkpointed = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await;
        sqlx::query(&format!(
            "PRAGMA busy_timeout = {}",
            BUSY_TIMEOUT.as_millis()
        ))
        .execute(&mut *conn)
        .await?;
        checkpointed.map(|_| ())
    }

    /// Cheap liveness check for `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.reader().await?)
            .await
            .map(|_| ())
    }

    /// Every blob row, in digest order.
    pub async fn blobs(&self) -> Result<Vec<(Digest, u64)>, DbError> {
        let rows = sqlx::query("SELECT digest, size FROM blob ORDER BY digest")
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.into_iter()
            .map(|row| {
                let digest: String = row.try_get("digest")?;
                let size: i64 = row.try_get("size")?;
                let digest = digest
                    .parse()
                    .map_err(|e: crate::digest::InvalidDigest| sqlx::Error::Decode(Box::new(e)))?;
                Ok((digest, size as u64))
            })
            .collect()
    }

    /// The size of the blob row `digest`, if the store holds it.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, DbError> {
        let row = sqlx::query("SELECT size FROM blob WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.map(|r| r.try_get::<i64, _>("size").map(|s| s as u64))
            .transpose()
    }

    /// The distinct digests that `reference` points at (a nullable column's NULLs
    /// reference nothing).
    pub async fn referenced_digests(
        &self,
        reference: BlobReference,
    ) -> Result<Vec<String>, DbError> {
        let sql = format!(
            "SELECT DISTINCT {col} AS digest FROM {table} WHERE {col} IS NOT NULL ORDER BY {col}",
            col = reference.column,
            table = reference.table
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        rows.into_iter().map(|r| r.try_get("digest")).collect()
    }

    /// Deletes every row of `reference` pointing at `digest` (fsck repair of a lost blob).
    pub async fn delete_references(
        &self,
        reference: BlobReference,
        digest: &Digest,
    ) -> Result<u64, DbError> {
        let sql = format!(
            "DELETE FROM {table} WHERE {col} = $1",
            col = reference.column,
            table = reference.table
        );
        let done = sqlx::query(&sql)
            .bind(digest.to_string())
            .execute(&mut *self.writer().await)
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes the blob row itself (after its references are gone).
    pub async fn delete_blob_row(&self, digest: &Digest) -> Result<(), DbError> {
        sqlx::query("DELETE FROM blob WHERE digest = $1")
            .bind(digest.to_string())
            .execute(&mut *self.writer().await)
            .await
            .map(|_| ())
    }
}

/// Applies the migrations under `migrations/` that this database lacks.
async fn migrate(conn: &mut SqliteConnection) -> Result<(), DbError> {
    sqlx::migrate!("../../migrations")
        .run(conn)
        .await
        .map_err(|e| sqlx::Error::Migrate(Box::new(e)))
}

/// The first statement of every insert of a row that references a blob: the
/// `blob` row, unless it exists. It binds `$1` digest, `$2` size and `$3` the
/// time ([`blob_query`]); the protocol's own statement follows after `;`, with
/// its parameters from `$4`. Call only after the blob store committed the bytes.
///
/// The pair goes to the connection's thread as one command. Outside a
/// transaction the blob row commits first, so a failure between the two leaves
/// an unreferenced blob row (what a crash between a blob's commit and its row
/// leaves too), never a reference to a missing row. (PostgreSQL, which prepares
/// one statement at a time, would take the pair as a `WITH` clause.)
pub const INSERT_BLOB: &str =
    "INSERT INTO blob (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING";

/// Records many stored blobs in one statement per [`MANY_ROWS`] (the
/// multi-row form of [`INSERT_BLOB`]), for a caller inserting a batch of rows
/// that reference them in the same transaction. Call only after the blob store
/// committed the bytes.
pub async fn insert_blobs(
    conn: &mut SqliteConnection,
    blobs: &[(&Digest, u64)],
) -> Result<(), DbError> {
    let now = crate::unix_now();
    for chunk in blobs.chunks(MANY_ROWS) {
        let mut insert = sqlx::QueryBuilder::new("INSERT INTO blob (digest, size, created_at) ");
        insert.push_values(chunk, |mut row, (digest, size)| {
            row.push_bind(digest.to_string())
                .push_bind(*size as i64)
                .push_bind(now);
        });
        insert.push(" ON CONFLICT (digest) DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per multi-row statement: one round trip to the connection's thread
/// for this many rows instead of one each. With up to 16 parameters per row,
/// well under SQLite's 32,766 and PostgreSQL's 65,535.
pub const MANY_ROWS: usize = 256;

/// A query of `sql` (which starts with [`INSERT_BLOB`]) with the blob's parameters bound.
pub fn blob_query<'q>(
    sql: &'q str,
    digest: &Digest,
    size: u64,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    sqlx::query(sql)
        .bind(digest.to_string())
        .bind(size as i64)
        .bind(crate::unix_now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn more_lookups_than_readers_all_answer_and_see_committed_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("airlock.db"))
            .await
            .expect("open");
        let digest: Digest = format!("sha256:{}", "ab".repeat(32))
            .parse()
            .expect("digest");
        blob_query(INSERT_BLOB, &digest, 7)
            .execute(&mut *db.writer().await)
            .await
            .expect("insert");
        let lookups = (0..3 * READERS).map(|_| async {
            let conn = db.reader().await?;
            // Hold the connection a while, so later lookups find every reader busy.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut conn = conn;
            sqlx::query("SELECT size FROM blob")
                .fetch_one(&mut *conn)
                .await?
                .try_get::<i64, _>("size")
        });
        for size in futures_util::future::join_all(lookups).await {
            assert_eq!(size.expect("lookup"), 7);
        }
        let opened =
            db.0.readers
                .iter()
                .filter(|r| matches!(r.try_lock(), Ok(c) if c.is_some()));
        assert_eq!(opened.count(), READERS);
        db.ping().await.expect("ping");
    }

    /// A task that holds a reader and asks for another while every other
    /// one is busy gets the first one freed, whichever it is. (Waiting for
    /// "the next one in turn" waited for its own, one time in four.)
    #[tokio::test]
    async fn a_task_holding_a_reader_gets_the_next_one_freed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("airlock.db"))
            .await
            .expect("open");
        for _ in 0..2 * READERS {
            let others = async {
                let mut held = Vec::new();
                for _ in 1..READERS {
                    held.push(db.reader().await.expect("reader"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(held);
            };
            let this = async {
                // Let the others take theirs first.
                tokio::task::yield_now().await;
                let mut mine = db.reader().await.expect("reader");
                let mut second = db.reader().await.expect("second reader");
                for conn in [&mut mine, &mut second] {
                    sqlx::query("SELECT 1")
                        .execute(&mut **conn)
                        .await
                        .expect("query");
                }
            };
            tokio::time::timeout(Duration::from_secs(10), async {
                tokio::join!(others, this)
            })
            .await
            .expect("the second reader came");
        }
    }

    #[tokio::test]
    async fn an_in_memory_index_reads_through_its_writer() {
        let db = Db::in_memory().await.expect("db");
        db.ping().await.expect("ping");
        assert!(db.blobs().await.expect("blobs").is_empty());
    }
}
