//! PostgreSQL, for production. Writes take a transaction-scoped advisory
//! lock, so even several processes on one database apply entries one
//! transaction at a time, exactly as on SQLite.

use sqlx::migrate::Migrator;

use super::Dialect;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug)]
pub struct Postgres;

impl Dialect for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn migrator(&self) -> &'static Migrator {
        &MIGRATOR
    }
    fn connection_setup(&self) -> &'static [&'static str] {
        // Ledger tables grow by a million rows inside one import transaction;
        // a generic plan fixed while a table was empty would seq-scan it on
        // every later execution. Custom plans see the table as it is now.
        &[
            "SET TIME ZONE 'UTC'",
            "SET plan_cache_mode = force_custom_plan",
        ]
    }
    fn begin_write(&self) -> &'static str {
        "BEGIN ISOLATION LEVEL READ COMMITTED"
    }
    fn write_lock(&self) -> &'static [&'static str] {
        // 0x66756e64 = "fund": one lock for the whole ledger.
        //
        // A write transaction only looks rows up by key, and its tables grow
        // inside it faster than statistics follow: a big voucher look-up
        // (`voucher_no IN (…2000…)`) is costed above a scan of a table that
        // is still small by the statistics, and the scan then runs on every
        // chunk of a million-row import. Index probes only, then.
        &[
            "SELECT pg_advisory_xact_lock(1718971236)",
            "SET LOCAL enable_seqscan = off",
            "SET LOCAL enable_bitmapscan = off",
        ]
    }
    fn bind_params_max(&self) -> usize {
        // The wire protocol allows 65535 parameters per statement; a few
        // thousand already amortise the round trip.
        8_000
    }
    fn numbered_placeholders(&self) -> bool {
        true
    }
    fn substring_match(&self, _alias: &str, _table: &str) -> Option<String> {
        // The pg_trgm GIN indexes serve `LOWER(col) LIKE …` directly.
        None
    }
    fn bulk_insert_around(&self) -> (&'static [&'static str], &'static [&'static str]) {
        // A custom plan of a multi-row INSERT copies each of its thousands
        // of parameters into the plan as a constant, on every execution;
        // the plan of an INSERT … VALUES does not depend on statistics, so
        // a generic one, made once per statement shape, serves every flush.
        (
            &["SET LOCAL plan_cache_mode = force_generic_plan"],
            &["SET LOCAL plan_cache_mode = force_custom_plan"],
        )
    }
    fn text_orders_bytewise(&self) -> bool {
        // `payments.voucher_no` is `COLLATE "C"` (migration 0020).
        true
    }
    fn read_connections(&self) -> u32 {
        8
    }
    fn refresh_stats(&self) -> &'static [&'static str] {
        // Statistics from when `payments` was small (or never analysed) make
        // `origin = $1` look selective, so the voucher look-up
        // (`origin = $1 AND voucher_no IN (…)`) scans every payment of the
        // origin instead of probing (origin, voucher_no): quadratic over an
        // import. ANALYZE inside the transaction counts its own new rows.
        &["ANALYZE payments"]
    }
}
