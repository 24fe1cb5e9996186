//! Importing what treasuries and bureaus actually have: payment vouchers
//! (国库集中支付凭证) and back-entered allocations (补录下达指标), from CSV
//! in UTF-8 (with or without a BOM) or GBK/GB18030, or from an Excel
//! workbook ([`decode`]); headers in Chinese or English, amounts in 元 or
//! 万元, allocations named by 指标文号 or id ([`columns`]).
//!
//! The file is read and parsed on a blocking thread while the ledger checks
//! and applies rows on the async side, so both cores work. The whole file is
//! one transaction: any bad row (reported by line number with a Chinese
//! reason, up to [`ROW_ERRORS_MAX`] of them) rolls everything back. A
//! [`Mode::Preview`] runs every check the same way and rolls back even when
//! all rows are good, so what it reports is what applying would do, barring
//! entries recorded in between (which applying checks again).

pub mod columns;
pub mod decode;
pub mod template;
pub(crate) mod zh;

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fundsync_protocol::body::{AllocationIssued, PaymentRecorded};
use fundsync_protocol::{Actor, Body};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::ledger::query::{AllocationFilter, Page, PAGE_SIZE_MAX};
use crate::ledger::{ChainPos, Ledger, LedgerError, Outcome, Prepared};
use columns::{parse_amount, parse_date, Children, Col, Columns, DocIndex};
use decode::Format;

/// How many bad rows are reported before the import stops looking.
pub const ROW_ERRORS_MAX: usize = 1000;
/// Rows handed from the parser to the ledger at a time.
const CHUNK_ROWS: usize = 1000;
/// Chunks whose vouchers are looked up together. Each look-up waits for
/// the rows written so far, so it is the one point where checking rows and
/// writing them do not overlap; a wide window makes it rare.
const WINDOW_CHUNKS: usize = 16;
/// Rows above the header (a title, a date line) skipped while looking for it.
const HEADER_SEARCH_ROWS: usize = 10;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Treasury payment vouchers (permission `Pay`).
    Payments,
    /// Allocations issued to children, entered after the fact (`Allocate`).
    Allocations,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Payments => "payments",
            Kind::Allocations => "allocations",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Kind::Payments => "支付凭证",
            Kind::Allocations => "下达指标补录",
        }
    }

    /// The columns a file of this kind has.
    pub fn columns(self) -> &'static [Col] {
        match self {
            Kind::Payments => columns::PAYMENT,
            Kind::Allocations => columns::ALLOCATION,
        }
    }
}

/// Whether the import is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Check every row, report, keep nothing.
    Preview,
    /// Check every row and, if all are good, commit them in one transaction.
    Apply,
}

/// A rejected row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct RowError {
    /// 1-based line in the file (the header is line 1), or row in the sheet.
    pub line: u64,
    /// Why, in Chinese.
    pub message: String,
}

/// Why an import failed. Nothing was recorded.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} 行有误，未导入任何数据；第一处：第 {} 行：{}", .0.len(), .0.first().map(|e| e.line).unwrap_or(0), .0.first().map(|e| e.message.as_str()).unwrap_or(""))]
    Rows(Vec<RowError>),
    #[error("文件中没有数据行")]
    Empty,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What an import did (or, previewed, would do).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ImportReport {
    pub rows: u64,
    /// New entries recorded.
    pub created: u64,
    /// Rows already recorded earlier (the same voucher or 文号 with the same
    /// fields).
    pub existing: u64,
    /// The sum of the new entries' amounts, in yuan.
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "rust_decimal::Decimal")]
    pub total: Decimal,
}

/// What an import may name, and who does it.
#[derive(Debug, Clone)]
pub struct Options {
    /// Who imports (recorded on every entry; not who paid: the file does
    /// not say).
    pub actor: Actor,
    /// Only allocations of these fund categories may be named (the
    /// importer's department and 涉密 scope); `None`: any held here.
    pub categories: Option<Vec<String>>,
    /// Rows parsed so far, for a progress display.
    pub progress: Option<Arc<AtomicU64>>,
}

impl Options {
    pub fn new(actor: &Actor) -> Options {
        Options {
            actor: actor.clone(),
            categories: None,
            progress: None,
        }
    }
}

/// Imports a file of vouchers (CSV in any of the encodings, or a workbook)
/// into the ledger, all or nothing, every payment attributed to `actor`.
pub async fn import_payments<R: Read + Send + 'static>(
    ledger: &Ledger,
    input: R,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    run(
        ledger,
        Kind::Payments,
        Box::new(input),
        &Options::new(actor),
        Mode::Apply,
    )
    .await
}

/// What rows become: everything a row needs from the ledger is looked up
/// before the transaction (allocations by 文号, the children by name).
#[derive(Debug)]
struct Plan {
    kind: Kind,
    docs: DocIndex,
    /// Only allocations in `docs` may be named (the importer's scope).
    scoped: bool,
    children: Children,
    actor: Actor,
}

impl Plan {
    async fn load(ledger: &Ledger, kind: Kind, o: &Options) -> Result<Plan, LedgerError> {
        let me = ledger.identity().code;
        let mut docs = DocIndex::default();
        let mut page = 1;
        loop {
            let filter = AllocationFilter {
                holder: Some(me),
                categories: o.categories.clone(),
                ..AllocationFilter::default()
            };
            let p = ledger
                .allocations(
                    filter,
                    Page {
                        page,
                        page_size: PAGE_SIZE_MAX,
                    },
                )
                .await?;
            for a in &p.items {
                if let Ok(id) = a.id.parse() {
                    docs.add(&a.doc_no, id, &a.category);
                }
            }
            if !p.has_more {
                break;
            }
            page += 1;
        }
        let mut children = Children::default();
        if kind == Kind::Allocations {
            let me = me.to_string();
            for n in ledger.nodes().await? {
                if n.parent.as_deref() == Some(me.as_str()) {
                    if let Ok(code) = n.code.parse() {
                        children.add(code, &n.name);
                    }
                }
            }
        }
        Ok(Plan {
            kind,
            docs,
            scoped: o.categories.is_some(),
            children,
            actor: o.actor.clone(),
        })
    }

    /// Parses, validates and encodes a row (on the parser thread, so the
    /// transaction's thread only checks it against the ledger).
    fn build(&self, c: &Columns, row: &[&str]) -> Result<Prepared, String> {
        let get = |k: &str| c.get(row, k);
        let body = match self.kind {
            Kind::Payments => {
                let amount = parse_amount(get("amount"), c.unit)?;
                let paid_on = parse_date(get("paid_on"), "支付日期")?;
                let allocation =
                    self.docs
                        .resolve(get("allocation"), get("allocation_doc_no"), "指标")?;
                if self.scoped && self.docs.category(allocation).is_none() {
                    return Err(format!("指标 {allocation} 不在您可用的本节点指标中"));
                }
                Body::PaymentRecorded(PaymentRecorded {
                    voucher_no: get("voucher_no").to_owned(),
                    paid_on,
                    payer: get("payer").to_owned(),
                    payee_name: get("payee_name").to_owned(),
                    payee_account: get("payee_account").to_owned(),
                    payee_bank: get("payee_bank").to_owned(),
                    amount,
                    function_class: get("function_class").to_owned(),
                    allocation,
                    project: get("project").to_owned(),
                    purpose: get("purpose").to_owned(),
                })
            }
            Kind::Allocations => {
                let amount = parse_amount(get("amount"), c.unit)?;
                let issued_on = parse_date(get("issued_on"), "下达日期")?;
                let source = self
                    .docs
                    .resolve(get("source"), get("source_doc_no"), "来源指标")?;
                let category = match (get("category"), self.docs.category(source)) {
                    (_, None) => {
                        return Err(format!(
                            "来源指标 {source} 不是本节点持有（且您可用）的指标"
                        ))
                    }
                    ("", Some(held)) => held.to_owned(),
                    (given, Some(_)) => given.to_owned(),
                };
                let to = self.children.resolve(get("to"))?;
                Body::AllocationIssued(AllocationIssued {
                    doc_no: get("doc_no").to_owned(),
                    source,
                    category,
                    to,
                    amount,
                    issued_on,
                    title: get("title").to_owned(),
                })
            }
        };
        Prepared::new(body, &self.actor).map_err(|e| zh::reason(&LedgerError::Body(e)))
    }
}

fn voucher_no(p: &Prepared) -> Option<&str> {
    match p.body() {
        Body::PaymentRecorded(p) => Some(p.voucher_no.as_str()),
        _ => None,
    }
}

fn amount_of(p: &Prepared) -> Decimal {
    match p.body() {
        Body::PaymentRecorded(p) => p.amount.yuan(),
        Body::AllocationIssued(a) => a.amount.yuan(),
        _ => Decimal::ZERO,
    }
}

type Chunk = Vec<(u64, Result<Prepared, String>)>;

/// Rows on their way from the parser to the ledger: finds the header,
/// builds each row after it, hashes it ahead (see [`spawn_parser`]) and
/// sends them in chunks to `send` (false: the receiver is gone).
struct Emitter<S> {
    plan: Plan,
    cols: Option<Columns>,
    above_header: usize,
    pos: Option<ChainPos>,
    chunk: Chunk,
    send: S,
    progress: Option<Arc<AtomicU64>>,
    rows: u64,
}

impl<S: FnMut(Chunk) -> bool> Emitter<S> {
    fn new(
        plan: Plan,
        pos: Option<ChainPos>,
        progress: Option<Arc<AtomicU64>>,
        send: S,
    ) -> Emitter<S> {
        Emitter {
            plan,
            cols: None,
            above_header: 0,
            pos,
            chunk: Vec::with_capacity(CHUNK_ROWS),
            send,
            progress,
            rows: 0,
        }
    }

    /// Takes a row; false once the receiver is gone or the file cannot be
    /// read further (no header).
    fn row(&mut self, line: u64, cells: &[&str]) -> bool {
        let Some(c) = &self.cols else {
            return self.header(line, cells);
        };
        let mut row = if cells.len() != c.width {
            Err(format!("该行有 {} 列，表头有 {} 列", cells.len(), c.width))
        } else {
            self.plan.build(c, cells)
        };
        if let (Ok(p), Some(at)) = (&mut row, self.pos) {
            self.pos = p.hash_at(at);
        }
        self.chunk.push((line, row));
        self.rows += 1;
        if self.chunk.len() >= CHUNK_ROWS {
            if let Some(p) = &self.progress {
                p.store(self.rows, Ordering::Relaxed);
            }
            return (self.send)(std::mem::take(&mut self.chunk));
        }
        true
    }

    fn header(&mut self, line: u64, cells: &[&str]) -> bool {
        match Columns::find(self.plan.kind.columns(), cells) {
            Some(Ok(c)) => {
                self.cols = Some(c);
                true
            }
            Some(Err(message)) => {
                self.error(line, message);
                false
            }
            None => {
                self.above_header += 1;
                if self.above_header >= HEADER_SEARCH_ROWS {
                    self.error(line, no_header(self.plan.kind));
                    return false;
                }
                true
            }
        }
    }

    fn error(&mut self, line: u64, message: String) {
        self.chunk.push((line, Err(message)));
    }

    fn finish(mut self) {
        if self.cols.is_none() && self.above_header > 0 && self.chunk.is_empty() {
            self.chunk.push((1, Err(no_header(self.plan.kind))));
        }
        if let Some(p) = &self.progress {
            p.store(self.rows, Ordering::Relaxed);
        }
        if !self.chunk.is_empty() {
            let _ = (self.send)(self.chunk);
        }
    }
}

fn no_header(kind: Kind) -> String {
    let names: Vec<&str> = kind
        .columns()
        .iter()
        .filter(|c| c.required)
        .map(|c| c.zh)
        .collect();
    format!(
        "找不到表头：表头行应含 {} 等列名（可下载模板）",
        names.join("、")
    )
}

/// Reads, decodes and parses `input` on a blocking thread, sending chunks
/// of rows. Each good row is also hashed as the entry it becomes if every
/// row before it does too, starting at `pos` (SHA-256 was the largest cost
/// of the checking thread); a row that turns out otherwise (a voucher
/// already held) is hashed again where it lands.
fn spawn_parser(
    mut input: Box<dyn Read + Send>,
    plan: Plan,
    pos: Option<ChainPos>,
    progress: Option<Arc<AtomicU64>>,
) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel::<Chunk>(2 * WINDOW_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut e = Emitter::new(plan, pos, progress, move |chunk| {
            tx.blocking_send(chunk).is_ok()
        });
        let mut bytes = Vec::new();
        if let Err(err) = input.read_to_end(&mut bytes) {
            e.error(1, format!("无法读取文件：{err}"));
            return e.finish();
        }
        parse_bytes(bytes, e);
    });
    rx
}

/// Decodes a whole file (workbook or CSV in any of the encodings) into
/// rows and hands each to `e`, then finishes it.
fn parse_bytes<S: FnMut(Chunk) -> bool>(bytes: Vec<u8>, mut e: Emitter<S>) {
    match decode::sniff(&bytes) {
        Format::Workbook => {
            if let Err(m) = decode::workbook_rows(bytes, |line, cells| e.row(line, cells)) {
                e.error(1, m);
            }
        }
        Format::Csv => {
            let (text, _) = decode::decode_text(&bytes);
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(&*text);
            let mut record = csv::StringRecord::new();
            loop {
                let line = reader.position().line();
                match reader.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        let at = record.position().map(|p| p.line()).unwrap_or(line);
                        if record.iter().all(str::is_empty) {
                            continue;
                        }
                        let cells: Vec<&str> = record.iter().collect();
                        if !e.row(at, &cells) {
                            break;
                        }
                    }
                    Err(err) => e.error(line, format!("无法解析该行：{err}")),
                }
            }
        }
    }
    e.finish();
}

/// What the parser makes of the bytes of a file of `kind`, without a
/// ledger: each row (by line) as the entry it becomes, or why not (a row
/// error, a missing header, a file that cannot be read). The allocations
/// the file may name (`docs`) and the children (`children`) are given, not
/// looked up; nothing is checked against a ledger and nothing is recorded.
/// The fuzz target `import` runs every file through this.
pub fn parse(
    kind: Kind,
    bytes: Vec<u8>,
    docs: DocIndex,
    children: Children,
    options: &Options,
) -> Vec<(u64, Result<Prepared, String>)> {
    let plan = Plan {
        kind,
        docs,
        scoped: options.categories.is_some(),
        children,
        actor: options.actor.clone(),
    };
    let mut rows = Vec::new();
    parse_bytes(
        bytes,
        Emitter::new(plan, None, None, |chunk: Chunk| {
            rows.extend(chunk);
            true
        }),
    );
    rows
}

/// Imports (or previews) a file of `kind` into the ledger, all or nothing.
/// Every row error is reported (up to [`ROW_ERRORS_MAX`]) in Chinese, by
/// line; a file with none is committed in one transaction when `mode` is
/// [`Mode::Apply`].
pub async fn run(
    ledger: &Ledger,
    kind: Kind,
    input: Box<dyn Read + Send>,
    options: &Options,
    mode: Mode,
) -> Result<ImportReport, ImportError> {
    let me = ledger.identity().code;
    // Restored behind its acknowledgement mark: every row would be refused
    // alike; say it once, before reading the file.
    ledger.refuse_if_restored()?;
    let plan = Plan::load(ledger, kind, options).await?;
    let mut work = ledger.begin().await?;
    let mut rx = spawn_parser(
        input,
        plan,
        Some(work.own_chain_pos().await?),
        options.progress.clone(),
    );
    let mut errors = Vec::new();
    let mut report = ImportReport {
        rows: 0,
        created: 0,
        existing: 0,
        total: Decimal::ZERO,
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
        if !nos.is_empty() {
            work.prefetch_vouchers(me, &nos).await?;
        }
        for (line, row) in window.drain(..).flatten() {
            let prepared = match row {
                Ok(p) => p,
                Err(message) => {
                    // A header or file error has no data row behind it.
                    if line > 1 || report.rows > 0 {
                        report.rows += 1;
                    }
                    errors.push(RowError { line, message });
                    continue;
                }
            };
            report.rows += 1;
            let amount = amount_of(&prepared);
            // Rows after a bad one are still checked (against the ledger
            // without the bad rows), so one pass reports every problem; the
            // transaction is rolled back at the end anyway.
            match work.record_prepared(prepared).await {
                Ok(Outcome::Created(_)) => {
                    report.created += 1;
                    report.total = report
                        .total
                        .checked_add(amount)
                        .ok_or(LedgerError::Overflow)?;
                }
                Ok(Outcome::Existing(_)) => report.existing += 1,
                Err(LedgerError::Store(e)) => return Err(LedgerError::Store(e).into()),
                Err(e) => errors.push(RowError {
                    line,
                    message: zh::reason(&e),
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
    if mode == Mode::Apply {
        work.commit().await?;
    }
    Ok(report)
}
