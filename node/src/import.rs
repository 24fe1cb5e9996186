//! Importing treasury payment vouchers from CSV (国库集中支付凭证).
//!
//! The file is read and parsed on a blocking thread while the ledger checks
//! and applies rows on the async side, so both cores work. The whole file is
//! one transaction: any bad row (reported by line number, up to
//! [`ROW_ERRORS_MAX`] of them) rolls everything back. Headers may be English
//! field names or the Chinese column names treasury systems export.

use std::io::Read;

use chrono::NaiveDate;
use fundsync_protocol::body::PaymentRecorded;
use fundsync_protocol::{Actor, Amount, Body, EntryId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::ledger::{ChainPos, Ledger, LedgerError, Outcome, Prepared};

/// How many bad rows are reported before the import stops looking.
pub const ROW_ERRORS_MAX: usize = 100;
/// Rows handed from the parser to the ledger at a time.
const CHUNK_ROWS: usize = 1000;
/// Chunks whose vouchers are looked up together. Each look-up waits for
/// the rows written so far, so it is the one point where checking rows and
/// writing them do not overlap; a wide window makes it rare.
const WINDOW_CHUNKS: usize = 16;

#[derive(Debug, Deserialize)]
struct CsvRow {
    #[serde(alias = "凭证号")]
    voucher_no: String,
    #[serde(alias = "支付日期")]
    paid_on: String,
    #[serde(alias = "付款人", alias = "付款单位")]
    payer: String,
    #[serde(alias = "收款人", alias = "收款人名称")]
    payee_name: String,
    #[serde(default, alias = "收款人账号")]
    payee_account: String,
    #[serde(default, alias = "收款人开户行", alias = "收款银行")]
    payee_bank: String,
    #[serde(alias = "金额", alias = "支付金额")]
    amount: String,
    #[serde(default, alias = "功能分类", alias = "支出功能分类")]
    function_class: String,
    #[serde(alias = "指标", alias = "指标编号")]
    allocation: String,
    #[serde(alias = "项目", alias = "项目编码")]
    project: String,
    #[serde(default, alias = "用途", alias = "摘要")]
    purpose: String,
}

/// A rejected row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    pub message: String,
}

/// Why an import failed. Nothing was recorded.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} row(s) rejected, nothing imported; first: line {}: {}", .0.len(), .0.first().map(|e| e.line).unwrap_or(0), .0.first().map(|e| e.message.as_str()).unwrap_or(""))]
    Rows(Vec<RowError>),
    #[error("the file has no rows")]
    Empty,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What an import did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: u64,
    /// New payments recorded.
    pub created: u64,
    /// Rows already recorded earlier (the same voucher with the same fields).
    pub existing: u64,
}

/// Parses, validates and encodes a row (on the parser thread, so the
/// transaction's thread only checks it against the ledger).
fn parse_row(r: CsvRow, actor: &Actor) -> Result<Prepared, String> {
    let amount: Amount = r.amount.parse().map_err(|e| format!("amount: {e}"))?;
    let paid_on = NaiveDate::parse_from_str(r.paid_on.trim(), "%Y-%m-%d")
        .map_err(|_| format!("paid_on {:?} is not a date like 2020-05-01", r.paid_on))?;
    let allocation: EntryId = r
        .allocation
        .trim()
        .parse()
        .map_err(|e| format!("allocation: {e}"))?;
    // The reader trims every field (`Trim::All`), so the strings move as they are.
    let body = Body::PaymentRecorded(PaymentRecorded {
        voucher_no: r.voucher_no,
        paid_on,
        payer: r.payer,
        payee_name: r.payee_name,
        payee_account: r.payee_account,
        payee_bank: r.payee_bank,
        amount,
        function_class: r.function_class,
        allocation,
        project: r.project,
        purpose: r.purpose,
    });
    Prepared::new(body, actor).map_err(|e| e.to_string())
}

fn voucher_no(p: &Prepared) -> Option<&str> {
    match p.body() {
        Body::PaymentRecorded(p) => Some(p.voucher_no.as_str()),
        _ => None,
    }
}

type Chunk = Vec<(u64, Result<Prepared, String>)>;

/// Parses CSV from `input` on a blocking thread, sending chunks of rows,
/// each attributed to `actor`. Each good row is also hashed as
/// the entry it becomes if every row before it does too, starting at `pos`
/// (SHA-256 was the largest cost of the checking thread); a row that turns
/// out otherwise (a voucher already held) is hashed again where it lands.
fn spawn_parser<R: Read + Send + 'static>(
    input: R,
    mut pos: Option<ChainPos>,
    actor: Actor,
) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel::<Chunk>(2 * WINDOW_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(input);
        let mut chunk = Vec::with_capacity(CHUNK_ROWS);
        let mut record = csv::StringRecord::new();
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => {
                let _ = tx.blocking_send(vec![(1, Err(format!("header: {e}")))]);
                return;
            }
        };
        loop {
            let line = reader.position().line();
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let mut row = record
                        .deserialize::<CsvRow>(Some(&headers))
                        .map_err(|e| csv_message(&e))
                        .and_then(|r| parse_row(r, &actor));
                    if let (Ok(p), Some(at)) = (&mut row, pos) {
                        pos = p.hash_at(at);
                    }
                    chunk.push((record.position().map(|p| p.line()).unwrap_or(line), row));
                }
                Err(e) => chunk.push((line, Err(csv_message(&e)))),
            }
            if chunk.len() >= CHUNK_ROWS && tx.blocking_send(std::mem::take(&mut chunk)).is_err() {
                return;
            }
        }
        if !chunk.is_empty() {
            let _ = tx.blocking_send(chunk);
        }
    });
    rx
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 (save the file as UTF-8)".to_owned(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(i) => format!("column {}: {}", i + 1, err.kind()),
            None => err.kind().to_string(),
        },
        _ => e.to_string(),
    }
}

/// Imports a CSV file of vouchers into the ledger, all or nothing, every
/// payment attributed to `actor` (who imports, not who paid: the file does
/// not say).
pub async fn import_payments<R: Read + Send + 'static>(
    ledger: &Ledger,
    input: R,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let me = ledger.identity().code;
    let mut work = ledger.begin().await?;
    let mut rx = spawn_parser(input, Some(work.own_chain_pos().await?), actor.clone());
    let mut errors = Vec::new();
    let mut report = ImportReport {
        rows: 0,
        created: 0,
        existing: 0,
    };
    let mut window: Vec<Chunk> = Vec::with_capacity(WINDOW_CHUNKS);
    loop {
        window.clear();
        while window.len() < WINDOW_CHUNKS {
            match rx.recv().await {
                Some(chunk) => window.push(chunk),
                None => break,
            }
        }
        if window.is_empty() {
            break;
        }
        let nos: Vec<&str> = window
            .iter()
            .flatten()
            .filter_map(|(_, r)| r.as_ref().ok().and_then(voucher_no))
            .collect();
        work.prefetch_vouchers(me, &nos).await?;
        for (line, row) in window.drain(..).flatten() {
            report.rows += 1;
            let prepared = match row {
                Ok(p) => p,
                Err(message) => {
                    errors.push(RowError { line, message });
                    continue;
                }
            };
            // Rows after a bad one are still checked (against the ledger
            // without the bad rows), so one pass reports every problem; the
            // transaction is rolled back at the end anyway.
            match work.record_prepared(prepared).await {
                Ok(Outcome::Created(_)) => report.created += 1,
                Ok(Outcome::Existing(_)) => report.existing += 1,
                Err(LedgerError::Store(e)) => return Err(LedgerError::Store(e).into()),
                Err(e) => errors.push(RowError {
                    line,
                    message: e.to_string(),
                }),
            }
            if errors.len() >= ROW_ERRORS_MAX {
                break;
            }
        }
        if errors.len() >= ROW_ERRORS_MAX {
            break;
        }
    }
    if !errors.is_empty() {
        errors.truncate(ROW_ERRORS_MAX);
        return Err(ImportError::Rows(errors));
    }
    if report.rows == 0 {
        return Err(ImportError::Empty);
    }
    work.commit().await?;
    Ok(report)
}
