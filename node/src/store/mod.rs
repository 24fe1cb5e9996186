//! Storage: one SQL implementation, two database engines.
//!
//! The ledger's SQL is written once against sqlx's `Any` driver, with `$N`
//! placeholders that both SQLite and PostgreSQL understand, integer fen for
//! money and ISO text for dates. What differs between the engines (connection
//! set-up, how a write transaction begins, migrations) is behind the
//! [`Dialect`] trait, implemented in `sqlite.rs` and `postgres.rs`. The engine
//! is chosen once, from the database URL, at start-up.
//!
//! Writes are serialised: the write pool holds exactly one connection, so at
//! most one write transaction runs per process, and each dialect's begin
//! statement also excludes other processes (SQLite `BEGIN IMMEDIATE`, a
//! PostgreSQL advisory lock). The ledger's rules read and write inside that
//! one transaction, so they always see a consistent state.

pub mod accounts;
mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, ConnectOptions, Transaction};

pub use sql::Sql;

/// Errors from the storage layer. Messages may name tables and SQL; the API
/// layer never shows them to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A background write of buffered rows failed or was lost; its
    /// transaction has been rolled back and can no longer be used.
    #[error("the write transaction was rolled back: {0}")]
    TransactionLost(String),
}

/// What differs between database engines.
pub trait Dialect: Send + Sync + std::fmt::Debug {
    /// Short name for logs and metrics.
    fn name(&self) -> &'static str;
    /// The schema migrations (add-only).
    fn migrator(&self) -> &'static Migrator;
    /// Statements run on every new connection.
    fn connection_setup(&self) -> &'static [&'static str];
    /// The statement that begins a write transaction.
    fn begin_write(&self) -> &'static str;
    /// Statements run first inside every write transaction.
    fn write_lock(&self) -> &'static [&'static str];
    /// Most bind parameters one bulk statement should carry.
    fn bind_params_max(&self) -> usize;
    /// Whether bulk statements number their placeholders (`$1`) or use
    /// anonymous `?`. SQLite looks numbered parameters up by a linear scan,
    /// which makes binding a statement with n of them cost O(n²).
    fn numbered_placeholders(&self) -> bool;
    /// Statements run before and after a flush's multi-row INSERTs.
    fn bulk_insert_around(&self) -> (&'static [&'static str], &'static [&'static str]) {
        (&[], &[])
    }
    /// How many read connections to keep.
    fn read_connections(&self) -> u32;
    /// A statement run on every new connection, after `connection_setup`,
    /// that sets how long a statement waits for another process's lock.
    fn lock_wait_setup(&self, _limits: &PoolLimits) -> Option<String> {
        None
    }
    /// Statements run on every new read connection, after `connection_setup`.
    fn read_connection_setup(&self) -> &'static [&'static str] {
        &[]
    }
    /// How long a pooled connection may sit unused before it is closed.
    /// An embedded engine's connections hold its page caches, so closing
    /// them is what gives an idle node's memory back.
    fn idle_close_ms(&self, limits: &PoolLimits) -> u64 {
        limits.postgres_idle_close_ms
    }
    /// Whether the `payments (origin, voucher_no)` index orders voucher
    /// numbers byte by byte, as Rust's `str` does (SQLite's default BINARY
    /// collation; on PostgreSQL the column's `COLLATE "C"`, migration
    /// 0020). Where it does, the largest voucher number of an origin bounds
    /// every stored one, and a voucher above it need not be looked up
    /// (`Work::prefetch_vouchers`).
    fn text_orders_bytewise(&self) -> bool;
    /// A statement run in the background after write commits, if the engine
    /// needs one (SQLite: folding the WAL into the database file).
    fn after_commit(&self) -> Option<&'static str> {
        None
    }
    /// Statements that refresh the query planner's statistics, run inside a
    /// write transaction once it has bulk-inserted many rows, so lookups later
    /// in that transaction are planned for the tables as they now are.
    fn refresh_stats(&self) -> &'static [&'static str];
    /// The condition that narrows a search of a substring index (migration
    /// 0021: `payment_texts`, `allocation_texts`, `project_texts`) aliased
    /// `alias` to the rows that may hold a text of 3 or more characters, to
    /// be followed by the text bound as [`substring_query`] makes it; the
    /// search's `LIKE`s then check each candidate. `None` where those
    /// `LIKE`s use the index themselves (PostgreSQL's pg_trgm GIN indexes).
    fn substring_match(&self, alias: &str, table: &str) -> Option<String>;
}

/// Fewest characters a text needs for the substring indexes (one trigram).
pub const SUBSTRING_INDEX_CHARS_MIN: usize = 3;

/// `text` as an FTS5 query matching it as a substring: one phrase, its
/// quotes doubled (with the trigram tokenizer a phrase is a run of
/// overlapping trigrams, so it matches wherever the text occurs, letters in
/// any case).
pub fn substring_query(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Limits for the connection pools.
#[derive(Debug, Clone)]
pub struct PoolLimits {
    /// Longest a request waits for the writer before failing.
    pub write_wait_ms: u64,
    /// Longest a request waits for a read connection.
    pub read_wait_ms: u64,
    /// How long an unused SQLite connection stays open.
    pub sqlite_idle_close_ms: u64,
    /// How long an unused PostgreSQL connection stays open.
    pub postgres_idle_close_ms: u64,
    /// Shortest time between two runs of `Dialect::after_commit`.
    pub sqlite_checkpoint_every_ms: u64,
    /// How long a SQLite statement waits for another process's lock.
    pub sqlite_busy_wait_ms: u64,
}

impl Default for PoolLimits {
    /// The defaults of the configuration's fields of the same names.
    fn default() -> Self {
        Self {
            write_wait_ms: 120_000,
            read_wait_ms: 30_000,
            // A SQLite connection's page cache is freed only when it closes;
            // reopening a SQLite file costs well under a millisecond.
            sqlite_idle_close_ms: 5_000,
            postgres_idle_close_ms: 600_000,
            sqlite_checkpoint_every_ms: 500,
            sqlite_busy_wait_ms: 30_000,
        }
    }
}

/// An open ledger database.
#[derive(Debug, Clone)]
pub struct Db {
    dialect: &'static dyn Dialect,
    read: AnyPool,
    write: AnyPool,
    /// Wakes the background task that runs `Dialect::after_commit`.
    committed: Option<Arc<Notify>>,
    /// Counts write commits made through this handle, for whoever waits for
    /// new data (the sync long-poll, the upward pusher).
    changes: Arc<watch::Sender<u64>>,
}

impl Db {
    /// Opens (creating a SQLite file if needed) and migrates the database.
    pub async fn open(url: &str, limits: &PoolLimits) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect: &'static dyn Dialect = if url.starts_with("sqlite:") {
            &sqlite::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            &postgres::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let options: AnyConnectOptions = url.parse()?;
        let options = options.disable_statement_logging();
        let setup = dialect.connection_setup();
        let lock_wait = dialect.lock_wait_setup(limits);
        let pool = |n: u32, wait_ms: u64, extra: &'static [&'static str]| {
            let lock_wait = lock_wait.clone();
            AnyPoolOptions::new()
                .max_connections(n)
                .min_connections(0)
                .idle_timeout(Duration::from_millis(dialect.idle_close_ms(limits)))
                .acquire_timeout(Duration::from_millis(wait_ms))
                .after_connect(move |conn, _meta| {
                    let lock_wait = lock_wait.clone();
                    Box::pin(async move {
                        let lock_wait = lock_wait.as_deref().into_iter();
                        for s in setup
                            .iter()
                            .copied()
                            .chain(lock_wait)
                            .chain(extra.iter().copied())
                        {
                            sqlx::query(s).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
        };
        // The writer first: it creates the SQLite file and switches it to WAL
        // before any reader opens it.
        let write = pool(1, limits.write_wait_ms, &[])
            .connect_with(options.clone())
            .await?;
        dialect.migrator().run(&write).await?;
        let read = pool(
            dialect.read_connections(),
            limits.read_wait_ms,
            dialect.read_connection_setup(),
        )
        .connect_with(options)
        .await?;
        let committed = dialect.after_commit().map(|sql| {
            let notify = Arc::new(Notify::new());
            let every = Duration::from_millis(limits.sqlite_checkpoint_every_ms);
            tokio::spawn(after_commit_task(read.clone(), sql, notify.clone(), every));
            notify
        });
        Ok(Db {
            dialect,
            read,
            write,
            committed,
            changes: Arc::new(watch::channel(0).0),
        })
    }

    /// Tells the store a write transaction committed.
    pub fn committed(&self) {
        if let Some(n) = &self.committed {
            n.notify_one();
        }
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later [`Db::committed`] of this process.
    /// Commits by other processes on the same database are not seen: waiters
    /// also poll with a timeout.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Begins the (one) write transaction.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let mut tx = begin_on(&self.write, self.dialect.begin_write()).await?;
        for s in self.dialect.write_lock() {
            sqlx::query(s).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// The accounts' tables ([`accounts::AccountStore`]).
    pub fn accounts(&self) -> accounts::AccountStore {
        accounts::AccountStore::new(self.clone())
    }

    /// Begins a short write transaction on tables outside the ledger
    /// (accounts, sessions, the login throttle: `accounts.rs`), on a read connection and
    /// without the ledger's lock: a sign-in must not queue behind an import
    /// in the one writer. On PostgreSQL it does not wait for the ledger at
    /// all; on SQLite, whose lock is the whole file's, it waits for a
    /// running ledger transaction up to `sqlite_busy_wait_ms`. It begins as
    /// a write (SQLite `BEGIN IMMEDIATE`), so a read inside it cannot fail
    /// to upgrade later.
    pub async fn begin_aside(&self) -> Result<Transaction<'static, Any>, StoreError> {
        begin_on(&self.read, self.dialect.begin_write()).await
    }

    /// Whether the database answers a trivial statement on a read
    /// connection (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// The pool for reads that need no transaction.
    pub fn read(&self) -> &AnyPool {
        &self.read
    }

    pub fn dialect(&self) -> &'static dyn Dialect {
        self.dialect
    }

    /// Closes both pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Begins a transaction on a connection of `pool` with `statement`.
///
/// A connection whose COMMIT failed in a way that also ended the
/// transaction (SQLite on a full disk: `database or disk is full`, after
/// which SQLite has rolled back by itself and the ROLLBACK that follows
/// fails too) is left by sqlx believing it is still inside a transaction,
/// and refuses every later begin (`InvalidSavePointStatement`). The write
/// pool holds one connection, so one full disk would wedge the node's
/// writer until a restart. Such a connection is closed here (the pool opens
/// a fresh one) and the begin tried again, at most once per connection.
async fn begin_on(
    pool: &AnyPool,
    statement: &'static str,
) -> Result<Transaction<'static, Any>, StoreError> {
    let mut closed = 0;
    loop {
        match pool.begin_with(statement).await {
            Err(sqlx::Error::InvalidSavePointStatement) if closed <= pool.size() => {
                let mut conn = pool.acquire().await?;
                let stuck = matches!(
                    sqlx::Connection::begin_with(&mut *conn, statement).await,
                    Err(sqlx::Error::InvalidSavePointStatement)
                );
                if stuck {
                    tracing::warn!(
                        "a database connection was left inside a transaction that could \
                         neither commit nor roll back (a full disk?); it is closed and a \
                         new one opened"
                    );
                    conn.close().await?;
                    closed += 1;
                }
            }
            r => return Ok(r?),
        }
    }
}

/// Runs the dialect's after-commit statement on a read connection whenever
/// woken, at most `every` (`sqlite_checkpoint_every_ms`; wake-ups in between
/// coalesce into one more run), until the pool closes. It never holds up a
/// writer: SQLite's passive checkpoint copies what no reader still needs
/// and gives up on the rest. During a burst of commits (replication, one
/// every ~100 ms) a checkpoint after each one copied the same hot pages
/// (the B-trees' right edges) again and again and synced the file each
/// time; one every half second folds the same WAL with less of both.
async fn after_commit_task(pool: AnyPool, sql: &'static str, wake: Arc<Notify>, every: Duration) {
    let mut last: Option<tokio::time::Instant> = None;
    loop {
        wake.notified().await;
        if let Some(at) = last {
            tokio::time::sleep_until(at + every).await;
        }
        last = Some(tokio::time::Instant::now());
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query(sql).execute(&pool).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "background checkpoint failed; will retry after the next commit");
        }
    }
}

/// `INSERT INTO {into} VALUES ($1,…,$cols),(…)` for `rows` rows, in the
/// dialect's placeholder style (anonymous `?` on SQLite, which binds
/// numbered parameters in O(n²)). The flush's multi-row INSERTs
/// (`ledger/work.rs`) bind their rows onto this text; [`Sql::for_bulk`]
/// writes the same placeholders, for when the flush builds its statements
/// with it.
pub fn insert_values_sql(d: &dyn Dialect, into: &str, cols: usize, rows: usize) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(into.len() + 16 + rows * cols * 6);
    sql.push_str("INSERT INTO ");
    sql.push_str(into);
    sql.push_str(" VALUES ");
    let mut n = 0usize;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push(',');
            }
            n += 1;
            if d.numbered_placeholders() {
                // Writing to a String cannot fail.
                let _ = write!(sql, "${n}");
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A COMMIT that fails after the engine has ended the transaction (what
    /// a full disk does to SQLite) leaves the connection unusable to sqlx;
    /// the next write transaction must still begin, on a fresh connection,
    /// and what it writes must commit.
    #[tokio::test]
    async fn a_commit_that_failed_does_not_wedge_the_writer(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
        let db = Db::open(&url, &PoolLimits::default()).await?;
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(db.read())
            .await?;
        let mut tx = db.begin_write().await?;
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *tx)
            .await?;
        // The transaction ends behind sqlx's back, as SQLite's own rollback
        // on SQLITE_FULL does; sqlx's COMMIT then fails, and so does the
        // ROLLBACK its drop sends.
        sqlx::query("ROLLBACK").execute(&mut *tx).await?;
        assert!(tx.commit().await.is_err());
        // The writer begins again, on a fresh connection.
        let mut tx = db.begin_write().await?;
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t WHERE x = 2")
            .fetch_one(db.read())
            .await?;
        assert_eq!(n, 1);
        // And a read connection begins too.
        db.begin_aside().await?.rollback().await?;
        Ok(())
    }

    #[test]
    fn substring_queries_are_one_phrase() {
        assert_eq!(super::substring_query("收款单位42"), "\"收款单位42\"");
        assert_eq!(super::substring_query("a\"b OR c*"), "\"a\"\"b OR c*\"");
    }

    #[test]
    fn values_sql_numbers_placeholders() {
        assert_eq!(
            super::insert_values_sql(&super::postgres::Postgres, "t (a, b)", 2, 2),
            "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4)"
        );
        assert_eq!(
            super::insert_values_sql(&super::sqlite::Sqlite, "t (a, b)", 2, 2),
            "INSERT INTO t (a, b) VALUES (?,?),(?,?)"
        );
    }
}
