//! Throwaway PostgreSQL databases for integration tests.
//!
//! `bash scripts/test.sh` starts a private PostgreSQL server for the test run and
//! exports its URL as `FUNDSYNC_TEST_PG_URL`. Each test then asks for its own
//! database with [`TestDb::create`], so tests can run in parallel without seeing
//! each other's data.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use sqlx::{Connection as _, PgConnection, PgPool};

/// The environment variable `scripts/test.sh` sets to the throwaway server's URL.
pub const PG_URL_ENV: &str = "FUNDSYNC_TEST_PG_URL";

/// Distinguishes databases created by one process; the pid and clock tell processes apart.
static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty PostgreSQL database for one test.
///
/// Dropping the value does NOT drop the database: that needs an async runtime,
/// which `Drop` cannot rely on. Call [`TestDb::drop_db`] to remove it early;
/// otherwise it goes away with the whole throwaway server, which
/// `scripts/test.sh` deletes when the run ends.
#[derive(Debug)]
pub struct TestDb {
    /// URL of this test's database (same server and socket as `FUNDSYNC_TEST_PG_URL`).
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDb {
    /// Creates a new, uniquely named database on the server in `FUNDSYNC_TEST_PG_URL`.
    ///
    /// Fails, rather than skipping, when the variable is not set: a database test
    /// that silently does not run looks exactly like one that passes.
    pub async fn create() -> anyhow::Result<TestDb> {
        let admin_url = match std::env::var(PG_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => bail!(
                "{PG_URL_ENV} is not set: run the tests with `bash scripts/test.sh`, \
                 which starts a throwaway PostgreSQL"
            ),
        };
        let name = unique_db_name()?;
        let url = with_database(&admin_url, &name)?;

        let mut conn = PgConnection::connect(&admin_url)
            .await
            .with_context(|| format!("connecting to the test server at {admin_url}"))?;
        // `name` is generated from [a-z0-9_] only, so it needs no quoting.
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating test database {name}"))?;
        conn.close().await.ok();

        Ok(TestDb {
            url,
            name,
            admin_url,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection pool to this database.
    pub async fn pool(&self) -> anyhow::Result<PgPool> {
        PgPool::connect(&self.url)
            .await
            .with_context(|| format!("connecting to test database {}", self.name))
    }

    /// Copies the database, as a backup, into a new one; returns its name.
    /// Nobody may be connected to it (PostgreSQL copies from a template).
    pub async fn copy(&self) -> anyhow::Result<String> {
        let copy = unique_db_name()?;
        self.admin_from_template(
            &self.name,
            &format!("CREATE DATABASE {copy} TEMPLATE {}", self.name),
        )
        .await?;
        Ok(copy)
    }

    /// Replaces the database with a copy of `backup` (made by [`TestDb::copy`]),
    /// as restoring a backup does. Nobody may be connected to `backup`.
    pub async fn restore(&self, backup: &str) -> anyhow::Result<()> {
        self.admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await?;
        self.admin_from_template(
            backup,
            &format!("CREATE DATABASE {} TEMPLATE {backup}", self.name),
        )
        .await
    }

    /// Runs a `CREATE DATABASE … TEMPLATE template`. The template must have
    /// no sessions: those of a pool just closed may still be ending, and an
    /// autovacuum worker may have connected to it. Such sessions are ended
    /// and the statement tried again, for 30 s at most.
    async fn admin_from_template(&self, template: &str, sql: &str) -> anyhow::Result<()> {
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match self.admin(sql).await {
                Err(e)
                    if format!("{e:#}").contains("is being accessed by other users")
                        && tokio::time::Instant::now() < until =>
                {
                    self.admin(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{template}' AND pid <> pg_backend_pid()"
                    ))
                    .await?;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                r => return r,
            }
        }
    }

    /// Runs `sql` on the server's administrative connection. Names in it
    /// come from [`unique_db_name`] only, so they need no quoting.
    async fn admin(&self, sql: &str) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.admin_url)
            .await
            .with_context(|| format!("connecting to the test server at {}", self.admin_url))?;
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .with_context(|| format!("running {sql}"))?;
        conn.close().await.ok();
        Ok(())
    }

    /// Drops the database now, disconnecting anyone still connected to it.
    pub async fn drop_db(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.admin_url)
            .await
            .with_context(|| format!("connecting to the test server at {}", self.admin_url))?;
        sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping test database {}", self.name))?;
        conn.close().await.ok();
        Ok(())
    }
}

/// `fundsync_t_<pid>_<counter>_<nanoseconds>` in hex: unique across the parallel
/// test processes of one run, and short of PostgreSQL's 63-byte identifier limit.
fn unique_db_name() -> anyhow::Result<String> {
    let pid = std::process::id();
    let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_nanos();
    Ok(format!("fundsync_t_{pid:x}_{n:x}_{nanos:x}"))
}

/// Replaces the database (the URL path) in a `postgres://` URL, keeping the
/// query string, which carries the unix-socket `host`.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let Some(scheme_end) = url.find("://") else {
        bail!("{PG_URL_ENV} is not a URL: {url}");
    };
    let after_scheme = scheme_end + "://".len();
    let rest = &url[after_scheme..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority_end = after_scheme + authority_len;
    let path_end = url[authority_end..]
        .find(['?', '#'])
        .map_or(url.len(), |i| authority_end + i);
    Ok(format!(
        "{}/{}{}",
        &url[..authority_end],
        database,
        &url[path_end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_path() {
        let cases = [
            (
                "postgres://postgres@localhost/postgres?host=/tmp/x",
                "postgres://postgres@localhost/db1?host=/tmp/x",
            ),
            (
                "postgres://u:p@h:5433/postgres",
                "postgres://u:p@h:5433/db1",
            ),
            ("postgres://h", "postgres://h/db1"),
            ("postgres://h?host=/s", "postgres://h/db1?host=/s"),
            ("postgresql://h/a#frag", "postgresql://h/db1#frag"),
        ];
        for (input, want) in cases {
            assert_eq!(
                with_database(input, "db1").expect("valid url"),
                want,
                "{input}"
            );
        }
        assert!(with_database("not a url", "db1").is_err());
    }

    #[test]
    fn db_names_are_unique_and_valid_identifiers() {
        let a = unique_db_name().expect("name");
        let b = unique_db_name().expect("name");
        assert_ne!(a, b);
        for name in [a, b] {
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
                "{name}"
            );
        }
    }
}
