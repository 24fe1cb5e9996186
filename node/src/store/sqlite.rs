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
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "PRAGMA busy_timeout = 30000",
            "PRAGMA cache_size = -32768",
            "PRAGMA temp_store = MEMORY",
        ]
    }
    fn begin_write(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }
    fn write_lock(&self) -> &'static [&'static str] {
        &[]
    }
    fn bind_params_max(&self) -> usize {
        // SQLITE_MAX_VARIABLE_NUMBER is 32766 in the bundled build.
        32_000
    }
    fn read_connections(&self) -> u32 {
        4
    }
}
