//! SQLite, the embedded default: one file per node, WAL for concurrent
//! readers, `synchronous=FULL` because a committed payment must survive power
//! loss, and `BEGIN IMMEDIATE` so a write transaction holds the write lock
//! from its first statement (a deferred one could fail to upgrade after
//! reading).

use sqlx::migrate::Migrator;

use super::Dialect;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Debug)]
pub struct Sqlite;

impl Dialect for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn migrator(&self) -> &'static Migrator {
        &MIGRATOR
    }
    fn connection_setup(&self) -> &'static [&'static str] {
        &[
            // Before the WAL is switched on, so a new database gets it (an
            // existing one keeps its page size). A bulk write spills pages
            // into the WAL as 24-byte frame headers plus a page: with 4 KiB
            // pages each frame is two write calls and straddles two file
            // blocks, which the kernel zeroes first; 16 KiB pages cut both
            // four-fold and make the B-trees shallower.
            "PRAGMA page_size = 16384",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "PRAGMA cache_size = -32768",
            "PRAGMA temp_store = MEMORY",
            // Checkpoints run in the background (`after_commit`), not inside
            // the committing writer: a committed transaction is already
            // durable in the WAL, and folding a large one into the database
            // file took a third of a million-row import.
            "PRAGMA wal_autocheckpoint = 0",
        ]
    }
    fn begin_write(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }
    fn write_lock(&self) -> &'static [&'static str] {
        &[]
    }
    fn bind_params_max(&self) -> usize {
        // Far below SQLITE_MAX_VARIABLE_NUMBER (32766): past a few thousand
        // parameters a statement's parse and bind cost more than they save.
        2_000
    }
    fn numbered_placeholders(&self) -> bool {
        false
    }
    fn read_connections(&self) -> u32 {
        4
    }
    fn read_connection_setup(&self) -> &'static [&'static str] {
        // Reads are point lookups and small aggregates over `payment_daily`;
        // the writer keeps the large cache (`connection_setup`) that bulk
        // imports and replication need. Four readers at 32 MiB each kept an
        // idle region at 47 MiB resident.
        &["PRAGMA cache_size = -4096"]
    }
    fn lock_wait_setup(&self, limits: &super::PoolLimits) -> Option<String> {
        Some(format!(
            "PRAGMA busy_timeout = {}",
            limits.sqlite_busy_wait_ms
        ))
    }
    fn idle_close_ms(&self, limits: &super::PoolLimits) -> u64 {
        limits.sqlite_idle_close_ms
    }
    fn text_orders_bytewise(&self) -> bool {
        true
    }
    fn after_commit(&self) -> Option<&'static str> {
        Some("PRAGMA wal_checkpoint(PASSIVE)")
    }
    fn substring_match(&self, alias: &str, table: &str) -> Option<String> {
        // The FTS5 table's hidden column of its own name takes the query.
        Some(format!("{alias}.{table} MATCH "))
    }
    fn refresh_stats(&self) -> &'static [&'static str] {
        // Without ANALYZE data SQLite prefers the unique indexes anyway.
        &[]
    }
}
