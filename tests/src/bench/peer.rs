//! The peers fundsync is compared with: a PostgreSQL logical replication
//! cascade (county → prefecture → region, three servers from Debian's
//! packages, each initdb'd in a temp dir, durable settings, unix sockets
//! only), and one local SQLite database written in batches (the machine's
//! ceiling for writing these rows at all).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use sqlx::{Connection as _, PgConnection, SqliteConnection};

use super::common::{payment, payments_fen};
use fundsync_protocol::EntryId;

/// The columns of a payment, as the `payments` table of each peer holds them.
const DDL: &str = "CREATE TABLE payments (\
    voucher_no text PRIMARY KEY, paid_on date NOT NULL, payer text NOT NULL, \
    payee_name text NOT NULL, payee_account text NOT NULL, payee_bank text NOT NULL, \
    amount_fen bigint NOT NULL, function_class text NOT NULL, allocation text NOT NULL, \
    project text NOT NULL, purpose text NOT NULL)";

/// The benchmark's payment rows `range`, column by column.
#[derive(Default)]
struct Columns {
    voucher_no: Vec<String>,
    paid_on: Vec<String>,
    payer: Vec<String>,
    payee_name: Vec<String>,
    payee_account: Vec<String>,
    payee_bank: Vec<String>,
    amount_fen: Vec<i64>,
    function_class: Vec<String>,
    allocation: Vec<String>,
    project: Vec<String>,
    purpose: Vec<String>,
}

fn columns(range: std::ops::Range<u64>, alloc: EntryId) -> Result<Columns> {
    let mut c = Columns::default();
    for i in range {
        let p = payment(i, alloc)?;
        c.voucher_no.push(p.voucher_no);
        c.paid_on.push(p.paid_on.to_string());
        c.payer.push(p.payer);
        c.payee_name.push(p.payee_name);
        c.payee_account.push(p.payee_account);
        c.payee_bank.push(p.payee_bank);
        c.amount_fen.push(p.amount.fen());
        c.function_class.push(p.function_class);
        c.allocation.push(p.allocation.to_string());
        c.project.push(p.project);
        c.purpose.push(p.purpose);
    }
    Ok(c)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .map(|u| u == "0")
        })
        .unwrap_or(false)
}

/// Debian keeps the server binaries under /usr/lib/postgresql/VERSION/bin.
fn pg_bindir() -> Result<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL's server is not installed: apt-get install postgresql")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop()
        .map(|(_, b)| b)
        .context("no initdb under /usr/lib/postgresql/*/bin")
}

/// One throwaway PostgreSQL server, reachable on a unix socket in its dir.
struct Server {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
}

impl Server {
    fn run(&self, prog: &str, args: &[&str]) -> Result<()> {
        let exe = self.bin.join(prog);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{prog} {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn start(bin: &Path, dir: PathBuf, as_postgres: bool) -> Result<Server> {
        std::fs::create_dir_all(&dir)?;
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:"])
                .arg(&dir)
                .status()?
                .success();
            ensure!(ok, "chown postgres {}", dir.display());
        }
        let s = Server {
            bin: bin.to_owned(),
            dir,
            as_postgres,
        };
        let data = s.dir.join("data");
        let data = data.to_str().context("temp dir path")?;
        s.run(
            "initdb",
            &[
                "-D",
                data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
            ],
        )?;
        // Durable like fundsync's SQLite (synchronous=FULL): fsync and
        // synchronous_commit on, which are PostgreSQL's defaults.
        let conf = format!(
            "\nlisten_addresses = ''\nunix_socket_directories = '{}'\nport = 5432\n\
             wal_level = logical\nmax_wal_senders = 10\nmax_replication_slots = 10\n\
             shared_buffers = 256MB\nfsync = on\nsynchronous_commit = on\nfull_page_writes = on\n",
            s.dir.display()
        );
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .append(true)
            .open(Path::new(data).join("postgresql.conf"))?
            .write_all(conf.as_bytes())?;
        let log = s.dir.join("postgres.log");
        s.run(
            "pg_ctl",
            &[
                "-D",
                data,
                "-l",
                log.to_str().context("log path")?,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        Ok(s)
    }

    fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@localhost/{db}?host={}&port=5432",
            self.dir.display()
        )
    }

    fn conninfo(&self, db: &str) -> String {
        format!(
            "host={} port=5432 user=postgres dbname={db}",
            self.dir.display()
        )
    }

    async fn connect(&self, db: &str) -> Result<PgConnection> {
        PgConnection::connect(&self.url(db))
            .await
            .with_context(|| format!("connecting to {}", self.url(db)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        if let Some(d) = data.to_str() {
            let _ = self.run("pg_ctl", &["-D", d, "-m", "immediate", "-w", "stop"]);
        }
    }
}

async fn exec(c: &mut PgConnection, sql: &str) -> Result<()> {
    sqlx::raw_sql(sql)
        .execute(&mut *c)
        .await
        .with_context(|| sql.to_owned())?;
    Ok(())
}

/// Waits until every table of every subscription at `c` is synchronised.
async fn subscriptions_ready(c: &mut PgConnection) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let (all, ready): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE srsubstate = 'r') FROM pg_subscription_rel",
        )
        .fetch_one(&mut *c)
        .await?;
        if all > 0 && all == ready {
            return Ok(());
        }
        ensure!(
            Instant::now() < until,
            "subscriptions not ready after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one run of the cascade measured.
#[derive(Debug)]
pub struct Cascade {
    pub version: String,
    pub total: Duration,
    pub written: Duration,
}

/// N rows inserted at the county, `chunk` per transaction, until the region
/// holds them all (count and sum checked).
pub async fn cascade(n: u64, chunk: u64, alloc: EntryId) -> Result<Cascade> {
    let bin = pg_bindir()?;
    let as_postgres = is_root();
    // Under /tmp: a unix socket's path must stay short.
    let root = tempfile::Builder::new()
        .prefix("fsb-pg")
        .tempdir_in("/tmp")?;
    if as_postgres {
        let ok = Command::new("chown")
            .arg("postgres:")
            .arg(root.path())
            .status()?
            .success();
        ensure!(ok, "chown postgres {}", root.path().display());
    }
    let county = Server::start(&bin, root.path().join("c"), as_postgres)?;
    let pref = Server::start(&bin, root.path().join("p"), as_postgres)?;
    let region = Server::start(&bin, root.path().join("r"), as_postgres)?;
    for s in [&county, &pref, &region] {
        let mut c = s.connect("postgres").await?;
        exec(&mut c, "CREATE DATABASE bench").await?;
        c.close().await?;
    }
    let mut cc = county.connect("bench").await?;
    let mut pc = pref.connect("bench").await?;
    let mut rc = region.connect("bench").await?;
    let version: String =
        sqlx::query_scalar("SELECT split_part(current_setting('server_version'), ' ', 1)")
            .fetch_one(&mut cc)
            .await?;
    exec(&mut cc, DDL).await?;
    exec(&mut cc, "CREATE PUBLICATION pay FOR TABLE payments").await?;
    exec(&mut pc, DDL).await?;
    exec(
        &mut pc,
        &format!(
            "CREATE SUBSCRIPTION from_county CONNECTION '{}' PUBLICATION pay",
            county.conninfo("bench")
        ),
    )
    .await?;
    exec(&mut pc, "CREATE PUBLICATION pay FOR TABLE payments").await?;
    exec(&mut rc, DDL).await?;
    exec(
        &mut rc,
        &format!(
            "CREATE SUBSCRIPTION from_prefecture CONNECTION '{}' PUBLICATION pay",
            pref.conninfo("bench")
        ),
    )
    .await?;
    subscriptions_ready(&mut pc).await?;
    subscriptions_ready(&mut rc).await?;

    let insert = "INSERT INTO payments SELECT a, b::date, c, d, e, f, g, h, i, j, k FROM unnest(\
        $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], \
        $8::text[], $9::text[], $10::text[], $11::text[]) AS t(a, b, c, d, e, f, g, h, i, j, k)";
    let started = Instant::now();
    let mut at = 0;
    while at < n {
        let upto = at.saturating_add(chunk).min(n);
        let c = columns(at..upto, alloc)?;
        sqlx::query(insert)
            .bind(c.voucher_no)
            .bind(c.paid_on)
            .bind(c.payer)
            .bind(c.payee_name)
            .bind(c.payee_account)
            .bind(c.payee_bank)
            .bind(c.amount_fen)
            .bind(c.function_class)
            .bind(c.allocation)
            .bind(c.project)
            .bind(c.purpose)
            .execute(&mut cc)
            .await?;
        at = upto;
    }
    let written = started.elapsed();
    let last = payment(n.saturating_sub(1), alloc)?.voucher_no;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        // Applied in commit order: once the last row is there, all are.
        let there: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM payments WHERE voucher_no = $1)")
                .bind(&last)
                .fetch_one(&mut rc)
                .await?;
        if there {
            let (count, sum): (i64, i64) = sqlx::query_as(
                "SELECT count(*), CAST(coalesce(sum(amount_fen), 0) AS BIGINT) FROM payments",
            )
            .fetch_one(&mut rc)
            .await?;
            if u64::try_from(count)? == n && sum == payments_fen(0..n) {
                break;
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the region did not get every row"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let total = started.elapsed();
    // Subscriptions first, so their workers let go of the publishers.
    exec(&mut rc, "DROP SUBSCRIPTION from_prefecture").await?;
    exec(&mut pc, "DROP SUBSCRIPTION from_county").await?;
    for c in [cc, pc, rc] {
        c.close().await?;
    }
    drop((region, pref, county));
    Ok(Cascade {
        version,
        total,
        written,
    })
}

/// The same rows written into one local SQLite database (WAL,
/// synchronous=FULL, like a node's), `chunk` per transaction, as multi-row
/// INSERTs: the machine's ceiling for storing them durably at all.
pub async fn sqlite_ceiling(n: u64, chunk: u64, alloc: EntryId) -> Result<Duration> {
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ceiling.sqlite").display()
    );
    let mut c = SqliteConnection::connect(&url).await?;
    for p in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA cache_size = -32768",
    ] {
        sqlx::query(p).execute(&mut c).await?;
    }
    sqlx::query(DDL).execute(&mut c).await?;
    const COLS: usize = 11;
    const ROWS: usize = 2000 / COLS;
    let stmt = |rows: usize| {
        let one = format!("({})", ["?"; COLS].join(","));
        format!("INSERT INTO payments VALUES {}", vec![one; rows].join(","))
    };
    let full = stmt(ROWS);
    let started = Instant::now();
    let mut at = 0;
    while at < n {
        let upto = at.saturating_add(chunk).min(n);
        let cols = columns(at..upto, alloc)?;
        let mut tx = c.begin().await?;
        let len = cols.voucher_no.len();
        let mut r = 0;
        while r < len {
            let k = ROWS.min(len - r);
            let sql = if k == ROWS { full.clone() } else { stmt(k) };
            let mut q = sqlx::query(&sql);
            for j in r..r + k {
                q = q
                    .bind(&cols.voucher_no[j])
                    .bind(&cols.paid_on[j])
                    .bind(&cols.payer[j])
                    .bind(&cols.payee_name[j])
                    .bind(&cols.payee_account[j])
                    .bind(&cols.payee_bank[j])
                    .bind(cols.amount_fen[j])
                    .bind(&cols.function_class[j])
                    .bind(&cols.allocation[j])
                    .bind(&cols.project[j])
                    .bind(&cols.purpose[j]);
            }
            q.execute(&mut *tx).await?;
            r += k;
        }
        tx.commit().await?;
        at = upto;
    }
    let took = started.elapsed();
    let (count, sum): (i64, i64) =
        sqlx::query_as("SELECT count(*), CAST(sum(amount_fen) AS BIGINT) FROM payments")
            .fetch_one(&mut c)
            .await?;
    ensure!(
        u64::try_from(count)? == n && sum == payments_fen(0..n),
        "the ceiling database holds {count} rows"
    );
    c.close().await?;
    Ok(took)
}

/// What fundsync stores for one payment entry: its journal row and its
/// payment row.
struct Stored {
    seq: i64,
    at_ms: i64,
    prev_hash: [u8; 32],
    hash: [u8; 32],
    body: Vec<u8>,
    voucher_no: String,
    paid_on: String,
    amount_fen: i64,
    allocation: String,
    project: String,
}

/// What fundsync stores for each payment and nothing else (its journal row
/// and its payment row, in the ledger's own schema, keys, indexes and
/// SQLite settings) written into `ledgers` fresh ledgers at once, `chunk`
/// entries per transaction, through SQLite's C API with prepared
/// statements (rusqlite), each ledger on a thread of its own: the work of
/// that many nodes each keeping every entry durably once, without rules,
/// hashing, signatures, a network or a database driver's overhead, and
/// without waiting for each other. Nothing that keeps these rows at that
/// many SQLite nodes on this machine can replicate faster.
pub async fn ledgers_ceiling(
    n: u64,
    chunk: u64,
    alloc: EntryId,
    ledgers: usize,
) -> Result<Duration> {
    use fundsync_node::store::{Db, PoolLimits};
    use fundsync_protocol::Body;
    use std::sync::Arc;

    let mut rows = Vec::with_capacity(usize::try_from(n)?);
    for i in 0..n {
        let p = payment(i, alloc)?;
        let seed = i.to_le_bytes();
        let mut hash = [0u8; 32];
        for (k, b) in hash.iter_mut().enumerate() {
            *b = seed[k % 8] ^ u8::try_from(k)?;
        }
        rows.push(Stored {
            seq: i64::try_from(i + 1)?,
            at_ms: 1_600_000_000_000,
            prev_hash: rows.last().map_or([0; 32], |r: &Stored| r.hash),
            hash,
            voucher_no: p.voucher_no.clone(),
            paid_on: p.paid_on.to_string(),
            amount_fen: p.amount.fen(),
            allocation: p.allocation.to_string(),
            project: p.project.clone(),
            body: Body::PaymentRecorded(p).encode(&fundsync_tests::build::clerk()),
        });
    }
    let rows = Arc::new(rows);
    let dir = tempfile::tempdir()?;
    let mut paths = Vec::with_capacity(ledgers);
    for k in 0..ledgers {
        let path = dir.path().join(format!("ledger{k}.sqlite"));
        // The node's own schema and file settings (page size, WAL).
        let db = Db::open(
            &format!("sqlite://{}?mode=rwc", path.display()),
            &PoolLimits::default(),
        )
        .await?;
        db.close().await;
        paths.push(path);
    }
    let chunk = usize::try_from(chunk)?.max(1);
    let started = Instant::now();
    let writers: Vec<_> = paths
        .into_iter()
        .map(|path| {
            let rows = rows.clone();
            tokio::task::spawn_blocking(move || store_all(&path, &rows, chunk))
        })
        .collect();
    for w in writers {
        w.await??;
    }
    Ok(started.elapsed())
}

/// Rows per multi-row INSERT of [`store_all`]: a prepared statement of 64
/// rows runs in fewer virtual-machine steps per row than one of a row.
const CEILING_ROWS: usize = 64;

/// Writes every row into one ledger, `chunk` per transaction, in prepared
/// multi-row INSERTs, and checks what it holds.
fn store_all(path: &Path, rows: &[Stored], chunk: usize) -> Result<()> {
    let mut c = rusqlite::Connection::open(path)?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 0;",
    )?;
    let sql = |into: &str, k: usize| {
        format!(
            "INSERT INTO {into} VALUES {}",
            vec!["(?,?,?,?,?,?,?)"; k].join(",")
        )
    };
    const JOURNAL: &str = "journal (origin, seq, at_ms, prev_hash, hash, kind, body)";
    const PAYMENTS: &str =
        "payments (origin, seq, voucher_no, paid_on, amount_fen, allocation_id, project)";
    for tx_rows in rows.chunks(chunk) {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for part in tx_rows.chunks(CEILING_ROWS) {
            let mut j = tx.prepare_cached(&sql(JOURNAL, part.len()))?;
            let mut p = tx.prepare_cached(&sql(PAYMENTS, part.len()))?;
            for (i, r) in part.iter().enumerate() {
                let at = i * 7;
                j.raw_bind_parameter(at + 1, "652822")?;
                j.raw_bind_parameter(at + 2, r.seq)?;
                j.raw_bind_parameter(at + 3, r.at_ms)?;
                j.raw_bind_parameter(at + 4, &r.prev_hash[..])?;
                j.raw_bind_parameter(at + 5, &r.hash[..])?;
                j.raw_bind_parameter(at + 6, "payment_recorded")?;
                j.raw_bind_parameter(at + 7, &r.body[..])?;
                p.raw_bind_parameter(at + 1, "652822")?;
                p.raw_bind_parameter(at + 2, r.seq)?;
                p.raw_bind_parameter(at + 3, &r.voucher_no)?;
                p.raw_bind_parameter(at + 4, &r.paid_on)?;
                p.raw_bind_parameter(at + 5, r.amount_fen)?;
                p.raw_bind_parameter(at + 6, &r.allocation)?;
                p.raw_bind_parameter(at + 7, &r.project)?;
            }
            j.raw_execute()?;
            p.raw_execute()?;
        }
        tx.commit()?;
    }
    let (count, sum): (i64, i64) = c.query_row(
        "SELECT count(*), CAST(sum(amount_fen) AS BIGINT) FROM payments",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let n = u64::try_from(rows.len())?;
    ensure!(
        u64::try_from(count)? == n && sum == payments_fen(0..n),
        "a ceiling ledger holds {count} payments"
    );
    Ok(())
}
