//! Throwaway PostgreSQL databases for integration tests.
//!
//! Each test asks for its own database with [`TestDb::create`], so tests run in
//! parallel without seeing each other's data. The server they live on is, in
//! this order:
//!
//! 1. the one in `FUNDSYNC_TEST_PG_URL`, when it is set: any server the caller
//!    runs (`scripts/with-pg.sh` starts one for the benchmarks);
//! 2. otherwise a PostgreSQL container started with testcontainers from the
//!    image in `FUNDSYNC_TEST_PG_IMAGE` (default: the official `postgres:15`;
//!    `scripts/test.sh` and CI use the locally built `fundsync/postgres:15`).
//!
//! nextest runs every test in a process of its own, and a container per test
//! would cost seconds each, so one container serves the whole test run: it is
//! named after the run (`FUNDSYNC_TEST_RUN_ID`, which `scripts/test.sh` sets,
//! else nextest's `NEXTEST_RUN_ID`), marked for testcontainers' reuse, and the
//! first process to want it starts it while holding an exclusive lock on a file
//! named after the run; the others wait on that lock and then find the running,
//! ready container by name and labels. testcontainers' reuse alone is not
//! enough: it neither serialises two processes that both find nothing, nor waits
//! for readiness when it finds a container. Reuse means testcontainers never
//! removes the container: `scripts/test.sh` removes it by its run label when the
//! run ends, and removes leftovers of runs whose owner process is gone (see
//! [`LABEL_RUN`], [`LABEL_OWNER_PID`]).
//!
//! No Docker, or no image, fails every PostgreSQL test with a message saying
//! so: a database test that silently does not run looks exactly like one that
//! passes.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use sqlx::{Connection as _, PgConnection, PgPool};
use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::bollard::query_parameters::RemoveContainerOptions;
use testcontainers::core::{IntoContainerPort as _, Mount};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ImageExt as _, ReuseDirective};
use testcontainers_modules::postgres::Postgres;

/// A server to use instead of a container (any PostgreSQL URL; the escape hatch).
pub const PG_URL_ENV: &str = "FUNDSYNC_TEST_PG_URL";
/// The image of the test container, `name:tag`.
pub const PG_IMAGE_ENV: &str = "FUNDSYNC_TEST_PG_IMAGE";
/// The image used when [`PG_IMAGE_ENV`] is not set: the official one, pulled if missing.
pub const DEFAULT_PG_IMAGE: &str = "postgres:15";
/// Names the test run whose processes share one container (`scripts/test.sh` sets it).
pub const RUN_ID_ENV: &str = "FUNDSYNC_TEST_RUN_ID";
/// The pid of the process whose lifetime bounds the run (`scripts/test.sh` sets its own).
pub const RUN_PID_ENV: &str = "FUNDSYNC_TEST_RUN_PID";
/// Label on every test container: the run it belongs to.
pub const LABEL_RUN: &str = "fundsync.test-pg.run";
/// Label on every test container: the pid of the run's owner on [`LABEL_HOST`];
/// once that process is gone, the container is a leftover anyone may remove.
pub const LABEL_OWNER_PID: &str = "fundsync.test-pg.owner-pid";
/// Label on every test container: the host name of the machine its owner runs on.
pub const LABEL_HOST: &str = "fundsync.test-pg.host";

/// Server settings for tests: parallel tests each open a pool, hence the
/// connections; the data is thrown away, hence no durability.
const SERVER_ARGS: [&str; 10] = [
    "-c",
    "max_connections=200",
    "-c",
    "shared_buffers=256MB",
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
];
/// Shared memory for parallel query workers (Docker's default is 64 MiB).
const SHM_BYTES: u64 = 256 * 1024 * 1024;
/// From `docker create` to "ready to accept connections", initdb included.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// Credentials the official image's contract takes from POSTGRES_USER / POSTGRES_PASSWORD.
const PG_USER: &str = "postgres";
const PG_PASSWORD: &str = "postgres";

/// Distinguishes databases created by one process; the pid and clock tell processes apart.
static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// The admin URL of this process's server, found or started once per process
/// (the error as text, so every test of the process reports the same failure).
static SERVER: OnceLock<Result<String, String>> = OnceLock::new();

/// A fresh, empty PostgreSQL database for one test.
///
/// Dropping the value does NOT drop the database: that needs an async runtime,
/// which `Drop` cannot rely on. Call [`TestDb::drop_db`] to remove it early;
/// otherwise it goes away with the whole test server (the run's container, which
/// `scripts/test.sh` removes when the run ends).
#[derive(Debug)]
pub struct TestDb {
    /// URL of this test's database (same server as the admin URL).
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDb {
    /// Creates a new, uniquely named database on the test server: the one in
    /// `FUNDSYNC_TEST_PG_URL`, else the run's container (started if need be).
    ///
    /// Fails, rather than skipping, when there is no server to be had.
    pub async fn create() -> anyhow::Result<TestDb> {
        let admin_url = server_url().await?;
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

/// The admin URL of the test server: `FUNDSYNC_TEST_PG_URL`, else the run's container.
pub async fn server_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var(PG_URL_ENV) {
        if !url.trim().is_empty() {
            return Ok(url);
        }
    }
    // Finding or starting the container blocks (a file lock, its own runtime:
    // tests each run on a runtime of their own, which a shared Docker client
    // must not outlive), so it happens on a blocking thread, once per process.
    let found = tokio::task::spawn_blocking(|| SERVER.get_or_init(container_url).clone())
        .await
        .context("the thread starting the PostgreSQL container panicked")?;
    found.map_err(anyhow::Error::msg)
}

/// Who runs the tests: the run's id and the process that outlives all its tests.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    id: String,
    owner_pid: u32,
}

impl Run {
    /// From `scripts/test.sh`'s variables, else nextest's run (its runner, the
    /// parent of each test process, is the owner), else this process alone.
    fn from_env(var: impl Fn(&str) -> Option<String>) -> Run {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let pid = std::process::id();
        if let Some(id) = var(RUN_ID_ENV) {
            let owner_pid = var(RUN_PID_ENV)
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(pid);
            return Run { id, owner_pid };
        }
        if let Some(id) = var("NEXTEST_RUN_ID") {
            return Run {
                id,
                owner_pid: std::os::unix::process::parent_id(),
            };
        }
        Run {
            id: format!("pid{pid}"),
            owner_pid: pid,
        }
    }

    /// The container's name: `fundsync-test-pg-<run id>`, in the characters
    /// Docker allows in names (and a lock file's name).
    fn container_name(&self) -> String {
        let id: String = self
            .id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        format!("fundsync-test-pg-{id}")
    }
}

/// Finds the run's container or starts it, under the run's lock; its admin URL.
fn container_url() -> Result<String, String> {
    let image = std::env::var(PG_IMAGE_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_PG_IMAGE.to_owned());
    let run = Run::from_env(|name| std::env::var(name).ok());
    let name = run.container_name();
    let hint = format!(
        "PostgreSQL tests need Docker and the image {image} ({PG_IMAGE_ENV}; build \
         fundsync/postgres:15 with `sudo bash deploy/images.sh --postgres-only`, or \
         let Docker pull {DEFAULT_PG_IMAGE}), or a server in {PG_URL_ENV}. \
         `bash scripts/test.sh` sets all this up"
    );

    let lock_path = std::env::temp_dir().join(format!("{name}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting a runtime for testcontainers: {e}"))?;
    let url = runtime
        .block_on(find_or_start(&image, &name, &run))
        .map_err(|e| format!("no PostgreSQL container for the tests: {e:#}\n{hint}"));
    drop(runtime);
    drop(lock); // closing the file releases the lock
    url
}

/// With the run's lock held: the running container named `name`, else a new one.
async fn find_or_start(image: &str, name: &str, run: &Run) -> anyhow::Result<String> {
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .context("connecting to Docker")?;
    docker
        .ping()
        .await
        .context("Docker is not reachable (is the daemon running? DOCKER_HOST?)")?;

    let (repository, tag) = split_image(image);
    let request = Postgres::default()
        .with_user(PG_USER)
        .with_password(PG_PASSWORD)
        .with_db_name("postgres")
        .with_name(repository)
        .with_tag(tag)
        .with_cmd(SERVER_ARGS)
        .with_container_name(name)
        .with_label(LABEL_RUN, run.id.as_str())
        .with_label(LABEL_OWNER_PID, run.owner_pid.to_string())
        .with_label(LABEL_HOST, host_name())
        // The data is thrown away: memory is faster than a disk, and leaves
        // no anonymous volume behind when the container goes.
        .with_mount(Mount::tmpfs_mount("/var/lib/postgresql/data"))
        .with_shm_size(SHM_BYTES)
        .with_startup_timeout(STARTUP_TIMEOUT)
        // On loopback only, at a port Docker picks: never on the machine's
        // other addresses, never a fixed port that another run may hold.
        .with_host_config_modifier(publish_on_loopback)
        .with_reuse(ReuseDirective::Always);

    let container = match request.start().await {
        Ok(container) => container,
        Err(e) => {
            // Reuse would otherwise hand this broken container to the next process.
            let remove = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            docker.remove_container(name, Some(remove)).await.ok();
            return Err(anyhow::Error::new(e).context(format!("starting container {name}")));
        }
    };
    let port = container
        .get_host_port_ipv4(5432.tcp())
        .await
        .with_context(|| format!("reading the port of container {name}"))?;
    // Reuse keeps it running when `container` is dropped.
    Ok(format!(
        "postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/postgres"
    ))
}

/// Publishes 5432 on 127.0.0.1 at a port Docker chooses, instead of testcontainers'
/// default of every exposed port on every address.
fn publish_on_loopback(host: &mut HostConfig) {
    host.publish_all_ports = Some(false);
    host.port_bindings = Some(HashMap::from([(
        "5432/tcp".to_owned(),
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".to_owned()),
            host_port: Some(String::new()),
        }]),
    )]));
}

/// `repo/name:tag` into its repository and tag (`latest` when there is none);
/// a `:` before the last `/` is a registry's port, not a tag.
fn split_image(image: &str) -> (&str, &str) {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], &image[name_start + i + 1..]),
        None => (image, "latest"),
    }
}

/// This machine's name, to tell whose pids the owner label means.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
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
    fn split_image_separates_repository_and_tag() {
        assert_eq!(split_image("postgres:15"), ("postgres", "15"));
        assert_eq!(
            split_image("fundsync/postgres:15"),
            ("fundsync/postgres", "15")
        );
        assert_eq!(split_image("postgres"), ("postgres", "latest"));
        assert_eq!(
            split_image("registry:5000/team/pg:15-alpine"),
            ("registry:5000/team/pg", "15-alpine")
        );
        assert_eq!(
            split_image("registry:5000/pg"),
            ("registry:5000/pg", "latest")
        );
    }

    #[test]
    fn a_run_is_named_by_the_script_then_by_nextest() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let script = Run::from_env(env(&[
            (RUN_ID_ENV, "sh-41-x"),
            (RUN_PID_ENV, "41"),
            ("NEXTEST_RUN_ID", "n"),
        ]));
        assert_eq!(
            script,
            Run {
                id: "sh-41-x".into(),
                owner_pid: 41
            }
        );
        assert_eq!(script.container_name(), "fundsync-test-pg-sh-41-x");

        let nextest = Run::from_env(env(&[("NEXTEST_RUN_ID", "0b1c/x y")]));
        assert_eq!(nextest.id, "0b1c/x y");
        assert_eq!(nextest.owner_pid, std::os::unix::process::parent_id());
        assert_eq!(nextest.container_name(), "fundsync-test-pg-0b1c_x_y");

        let alone = Run::from_env(env(&[(RUN_ID_ENV, " ")]));
        assert_eq!(alone.owner_pid, std::process::id());
        assert_eq!(alone.id, format!("pid{}", std::process::id()));
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
