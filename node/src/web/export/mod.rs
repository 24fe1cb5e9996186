//! 导出: the list pages (指标, 支付, 预警) and the master ledger (总台账) as
//! an Excel workbook (`.xlsx`) or a CSV file (`.csv`), each at the page's
//! path with the extension (`/payments.xlsx?origin=652822`): the page's own
//! query parameters, the page's permission and the reader's scope
//! (department, 涉密), so a file holds exactly the rows the page lists,
//! all of its pages. Amounts are yuan, exact (the pages show 万元).
//!
//! Nothing holds all the rows: they are read from the ledger a page at a
//! time (payments by keyset, the others by offset pages) and written out
//! as they come. A CSV file streams straight into the answer; a workbook
//! is written row by row to the worksheet's temporary file (constant
//! memory, [`sheet::Xlsx`]), saved to an unnamed temporary file and
//! streamed from there. Whatever fails before the first byte is an error
//! page; a failure while a CSV file streams cuts the answer short, so
//! the browser reports the download as failed rather than keeping half a
//! file.

pub mod sheet;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use fundsync_protocol::{Actor, EntryId, ErrorCode};

use rust_decimal::Decimal;
use tokio::sync::OwnedSemaphorePermit;
use tokio_stream::StreamExt;

use crate::access::{Permission, Role};
use crate::http::{ApiError, AppState, Routes};
use crate::ledger::query::{
    AllocationFilter, GroupBy, Page, PaymentFilter, PublicAllocationFilter, PublicProjectFilter,
    WarningFilter, PAGE_SIZE_MAX,
};
use crate::ledger::{Ledger, LedgerError};

use super::text::Lang;
use super::{Ctx, WebError, S};
use sheet::{Cell, Column, Head, Xlsx};

/// The export routes: each list page's path with `.xlsx` and `.csv`, with
/// the page's permission.
pub fn routes(pages: Routes) -> Routes {
    use Permission as P;
    pages
        .get("/ledger.xlsx", P::ReadLedger, ledger_xlsx)
        .get("/ledger.csv", P::ReadLedger, ledger_csv)
        .get("/allocations.xlsx", P::ReadLedger, allocations_xlsx)
        .get("/allocations.csv", P::ReadLedger, allocations_csv)
        .get("/payments.xlsx", P::ReadLedger, payments_xlsx)
        .get("/payments.csv", P::ReadLedger, payments_csv)
        .get("/warnings.xlsx", P::ReadLedger, warnings_xlsx)
        .get("/warnings.csv", P::ReadLedger, warnings_csv)
        .get(
            "/public/allocations.xlsx",
            P::Public,
            public_allocations_xlsx,
        )
        .get("/public/allocations.csv", P::Public, public_allocations_csv)
        .get("/public/projects.xlsx", P::Public, public_projects_xlsx)
        .get("/public/projects.csv", P::Public, public_projects_csv)
        .get("/carryover.xlsx", P::ReadLedger, carryover_xlsx)
        .get("/carryover.csv", P::ReadLedger, carryover_csv)
        .get(
            "/report/self-evaluation.xlsx",
            P::ReadLedger,
            self_evaluation_xlsx,
        )
        .get("/evaluation.xlsx", P::ReadLedger, evaluation_xlsx)
        .get("/evaluation.csv", P::ReadLedger, evaluation_csv)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Ledger,
    Allocations,
    Payments,
    Warnings,
    /// 公告公示: the published allocation results (no sign-in).
    PublicAllocations,
    /// 公告公示: the published projects (no sign-in).
    PublicProjects,
    CarryOver,
    /// 绩效自评报告: 一, 二 and 四(一) as rows (web/report).
    SelfEvaluation,
    /// 年度绩效自评: projects, reports, spot-check findings (web/evaluation).
    Evaluation,
}

impl List {
    fn name(self) -> &'static str {
        match self {
            List::Ledger => "ledger",
            List::Allocations => "allocations",
            List::Payments => "payments",
            List::Warnings => "warnings",
            List::PublicAllocations => "public-allocations",
            List::PublicProjects => "public-projects",
            List::CarryOver => "carryover",
            List::SelfEvaluation => "self-evaluation",
            List::Evaluation => "evaluation",
        }
    }
}

macro_rules! handlers {
    ($($name:ident => $list:expr, $format:expr;)*) => {
        $(
            async fn $name(ctx: Ctx, State(s): S) -> Response {
                export(ctx, s, $list, $format).await
            }
        )*
    };
}

handlers! {
    ledger_xlsx => List::Ledger, Format::Xlsx;
    ledger_csv => List::Ledger, Format::Csv;
    allocations_xlsx => List::Allocations, Format::Xlsx;
    allocations_csv => List::Allocations, Format::Csv;
    payments_xlsx => List::Payments, Format::Xlsx;
    payments_csv => List::Payments, Format::Csv;
    warnings_xlsx => List::Warnings, Format::Xlsx;
    warnings_csv => List::Warnings, Format::Csv;
    public_allocations_xlsx => List::PublicAllocations, Format::Xlsx;
    public_allocations_csv => List::PublicAllocations, Format::Csv;
    public_projects_xlsx => List::PublicProjects, Format::Xlsx;
    public_projects_csv => List::PublicProjects, Format::Csv;
    carryover_xlsx => List::CarryOver, Format::Xlsx;
    carryover_csv => List::CarryOver, Format::Csv;
    self_evaluation_xlsx => List::SelfEvaluation, Format::Xlsx;
    evaluation_xlsx => List::Evaluation, Format::Xlsx;
    evaluation_csv => List::Evaluation, Format::Csv;
}

/// Rows read per page of the ledger.
const PAGE_ROWS: u32 = PAGE_SIZE_MAX;

/// Where an export's rows come from, and how far it has read.
#[derive(Debug)]
enum Rows {
    Allocations {
        filter: AllocationFilter,
        page: u32,
        done: bool,
    },
    Payments {
        filter: PaymentFilter,
        after: Option<EntryId>,
        done: bool,
    },
    Warnings {
        filter: WarningFilter,
        page: u32,
        done: bool,
    },
    PublicAllocations {
        filter: PublicAllocationFilter,
        page: u32,
        done: bool,
    },
    PublicProjects {
        filter: PublicProjectFilter,
        page: u32,
        done: bool,
    },
    /// Rows computed whole (the master ledger is a summary: a row per
    /// group, not per record).
    Ready(Option<Vec<Vec<Cell>>>),
}

/// Names the rows show: nodes and categories by code.
#[derive(Debug, Default)]
struct Names {
    lang: Lang,
    nodes: HashMap<String, String>,
    categories: HashMap<String, String>,
}

impl Names {
    fn node(&self, code: &str) -> String {
        self.nodes.get(code).cloned().unwrap_or_default()
    }

    fn category(&self, code: &str) -> String {
        self.categories.get(code).cloned().unwrap_or_default()
    }
}

/// An export: what precedes the rows, and the rows still to read.
#[derive(Debug)]
struct Export {
    head: Head,
    rows: Rows,
    names: Names,
    file: String,
}

impl Export {
    /// The next page of rows; `None` at the end.
    async fn next(&mut self, ledger: &Ledger) -> Result<Option<Vec<Vec<Cell>>>, LedgerError> {
        let n = &self.names;
        let page_size = PAGE_ROWS;
        match &mut self.rows {
            Rows::Ready(rows) => Ok(rows.take()),
            Rows::Allocations { done: true, .. }
            | Rows::Payments { done: true, .. }
            | Rows::Warnings { done: true, .. }
            | Rows::PublicAllocations { done: true, .. }
            | Rows::PublicProjects { done: true, .. } => Ok(None),
            Rows::Allocations { filter, page, done } => {
                let got = ledger
                    .allocations(
                        filter.clone(),
                        Page {
                            page: *page,
                            page_size,
                        },
                    )
                    .await?;
                *page = page.saturating_add(1);
                *done = !got.has_more;
                Ok(Some(
                    got.items.iter().map(|a| allocation_row(n, a)).collect(),
                ))
            }
            Rows::Payments {
                filter,
                after,
                done,
            } => {
                let got = ledger
                    .payments_after(filter.clone(), *after, page_size)
                    .await?;
                *done = got.len() < usize::try_from(page_size).unwrap_or(usize::MAX);
                *after = got.last().and_then(|p| p.id.parse().ok());
                if got.is_empty() {
                    return Ok(None);
                }
                Ok(Some(got.iter().map(|p| payment_row(n, p)).collect()))
            }
            Rows::Warnings { filter, page, done } => {
                let got = ledger
                    .warnings(
                        filter,
                        Page {
                            page: *page,
                            page_size,
                        },
                    )
                    .await?;
                *page = page.saturating_add(1);
                *done = !got.has_more;
                Ok(Some(got.items.iter().map(|w| warning_row(n, w)).collect()))
            }
            Rows::PublicAllocations { filter, page, done } => {
                let got = ledger
                    .public_allocations(
                        filter.clone(),
                        Page {
                            page: *page,
                            page_size,
                        },
                    )
                    .await?;
                *page = page.saturating_add(1);
                *done = !got.has_more;
                Ok(Some(got.items.iter().map(public_allocation_row).collect()))
            }
            Rows::PublicProjects { filter, page, done } => {
                let got = ledger
                    .public_projects(
                        filter.clone(),
                        Page {
                            page: *page,
                            page_size,
                        },
                    )
                    .await?;
                *page = page.saturating_add(1);
                *done = !got.has_more;
                Ok(Some(
                    got.items.iter().map(|p| public_project_row(n, p)).collect(),
                ))
            }
        }
    }
}

async fn export(ctx: Ctx, s: Arc<AppState>, list: List, format: Format) -> Response {
    if let Some(q) = ctx.bad_query.clone() {
        return ctx.respond(Err(WebError::bad_param("query", &q)));
    }
    // A permit for the whole export, the sending of the file included.
    let Ok(permit) = s.exports.clone().try_acquire_owned() else {
        return ctx.respond(Err(WebError {
            error: ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::Busy,
                "too many exports are running; try again in a moment",
            ),
            zh: "同时进行的导出过多，请稍后再试",
            en: "Too many exports are running; try again in a moment",
        }));
    };
    let prepared = match prepare(&ctx, &s, list).await {
        Ok(e) => e,
        Err(e) => return ctx.respond(Err(e)),
    };
    let r = match format {
        Format::Csv => csv(prepared, s, permit).await,
        Format::Xlsx => xlsx(prepared, s, permit).await,
    };
    match r {
        Ok(res) => res,
        Err(e) => ctx.respond(Err(e)),
    }
}

/// The answer's headers: the type, an attachment with an ASCII file name
/// (`payments-652822-2020-12-31.xlsx`), no caching.
fn file_response(body: Body, file: &str, format: Format, len: Option<u64>) -> Response {
    let (ext, mime) = match format {
        Format::Csv => ("csv", "text/csv; charset=utf-8"),
        Format::Xlsx => (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    };
    let mut res = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.{ext}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        body,
    )
        .into_response();
    if let Some(len) = len {
        res.headers_mut()
            .insert(header::CONTENT_LENGTH, axum::http::HeaderValue::from(len));
    }
    res
}

async fn csv(
    mut e: Export,
    s: Arc<AppState>,
    permit: OwnedSemaphorePermit,
) -> Result<Response, WebError> {
    // The first page before the answer starts, so that a query the ledger
    // refuses is an error page.
    let first = e.next(&s.ledger).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let file = e.file.clone();
    tokio::spawn(async move {
        let send = async {
            let mut chunk = sheet::csv_head(&e.head);
            chunk.extend(sheet::csv_lines(first.unwrap_or_default()));
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
            loop {
                let chunk = match e.next(&s.ledger).await {
                    Ok(Some(rows)) => Ok(sheet::csv_lines(rows)),
                    Ok(None) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "CSV export cut short");
                        Err(std::io::Error::other(err.to_string()))
                    }
                };
                let failed = chunk.is_err();
                // The reader went away, or the export failed: stop reading.
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        };
        send.await;
        // The permit goes before the channel closes, so the reader that
        // sees the end of the file may start the next export at once.
        drop(permit);
        drop(tx);
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(file_response(body, &file, Format::Csv, None))
}

/// Why a workbook could not be written.
#[derive(Debug, thiserror::Error)]
enum XlsxFailed {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("writing the workbook: {0}")]
    Write(#[from] rust_xlsxwriter::XlsxError),
    #[error("the export task ended: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("reading the workbook: {0}")]
    Io(#[from] std::io::Error),
}

impl From<XlsxFailed> for WebError {
    fn from(e: XlsxFailed) -> WebError {
        match e {
            XlsxFailed::Ledger(e) => e.into(),
            other => {
                tracing::error!(error = %other, "XLSX export failed");
                WebError {
                    error: ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        ErrorCode::Internal,
                        "export failed",
                    ),
                    zh: "导出失败，请查看节点日志",
                    en: "The export failed; see the node's log",
                }
            }
        }
    }
}

async fn xlsx(
    mut e: Export,
    s: Arc<AppState>,
    permit: OwnedSemaphorePermit,
) -> Result<Response, WebError> {
    let file = e.file.clone();
    let rt = tokio::runtime::Handle::current();
    // The workbook is written on a blocking thread; it reads the ledger's
    // pages from there, one at a time.
    let written = tokio::task::spawn_blocking(move || -> Result<std::fs::File, XlsxFailed> {
        let mut x = Xlsx::new(e.head.clone())?;
        while let Some(rows) = rt.block_on(e.next(&s.ledger))? {
            x.rows(rows)?;
        }
        Ok(x.finish()?)
    })
    .await
    .map_err(XlsxFailed::from)
    .and_then(|r| r);
    let written = written?;
    let len = written.metadata().map_err(XlsxFailed::from)?.len();
    // The permit goes with the stream: released when the file is sent or
    // the reader goes away.
    let stream =
        tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(written)).map(move |chunk| {
            let _held = &permit;
            chunk
        });
    Ok(file_response(
        Body::from_stream(stream),
        &file,
        Format::Xlsx,
        Some(len),
    ))
}

/// The export of `list` for this request: its head (title, filters,
/// columns) and where its rows come from.
async fn prepare(ctx: &Ctx, s: &AppState, list: List) -> Result<Export, WebError> {
    let l = ctx.chrome.lang;
    let names = Names {
        lang: l,
        nodes: super::node_names(&s.ledger).await?,
        categories: super::categories(&s.ledger).await?,
    };
    let me = s.ledger.identity();
    let today = s.ledger.clock().today();
    let file = format!("{}-{}-{today}", list.name(), me.code);
    let mut filters = vec![(
        l.t("节点", "Node").to_owned(),
        format!("{} ({})", me.name, me.code),
    )];
    let (title, sheet, columns, rows) = match list {
        List::Allocations => {
            let filter = super::allocation_filter(ctx, s).await?;
            filters.extend(given(ctx, &names, super::ALLOCATION_FILTERS));
            (
                l.t("预算指标", "Allocations"),
                l.t("指标", "Allocations"),
                allocation_columns(l),
                Rows::Allocations {
                    filter,
                    page: 1,
                    done: false,
                },
            )
        }
        List::Payments => {
            let filter = super::payment_filter(ctx, s).await?;
            filters.extend(given(ctx, &names, super::PAYMENT_FILTERS));
            (
                l.t("国库集中支付", "Treasury payments"),
                l.t("支付", "Payments"),
                payment_columns(l),
                Rows::Payments {
                    filter,
                    after: None,
                    done: false,
                },
            )
        }
        List::Warnings => {
            let filter = super::warnings::warning_filter(ctx, s).await?;
            filters.push((
                l.t("状态", "State").to_owned(),
                if filter.open.unwrap_or(true) {
                    l.t("未处理", "open")
                } else {
                    l.t("已解除", "resolved")
                }
                .to_owned(),
            ));
            if let Some(r) = &filter.rule {
                filters.push((l.t("规则", "Rule").to_owned(), rule_label(l, r)));
            }
            if let Some(n) = filter.node {
                filters.push((
                    l.t("单位", "Node").to_owned(),
                    format!("{} ({n})", names.node(n.as_str())),
                ));
            }
            (
                l.t("预警", "Warnings"),
                l.t("预警", "Warnings"),
                warning_columns(l),
                Rows::Warnings {
                    filter,
                    page: 1,
                    done: false,
                },
            )
        }
        List::PublicAllocations => {
            let filter = super::public::allocation_filter(ctx, s).await?;
            filters.extend(public_given(ctx, &names, super::public::ALLOCATION_FILTERS));
            (
                l.t("扶贫资金分配结果公示", "Allocation results"),
                l.t("分配结果", "Allocations"),
                public_allocation_columns(l),
                Rows::PublicAllocations {
                    filter,
                    page: 1,
                    done: false,
                },
            )
        }
        List::PublicProjects => {
            let filter = super::public::project_filter(ctx)?;
            filters.extend(public_given(ctx, &names, super::public::PROJECT_FILTERS));
            (
                l.t("扶贫项目安排和资金使用公示", "Projects and their funds"),
                l.t("项目公示", "Projects"),
                public_project_columns(l),
                Rows::PublicProjects {
                    filter,
                    page: 1,
                    done: false,
                },
            )
        }
        List::Ledger => {
            let p = super::ledger_data(ctx, s).await?;
            filters.push((l.t("截至", "As of").to_owned(), p.as_of.to_string()));
            let gb = &p.summary.group_by;
            filters.push((l.t("分组", "Group by").to_owned(), grouping_text(l, gb)));
            if let Some(u) = &p.under {
                filters.push((
                    l.t("下级节点", "Subtree of").to_owned(),
                    format!("{} ({u})", names.node(u)),
                ));
            }
            let rows = ledger_rows(&names, &p);
            (
                l.t("扶贫资金总台账", "Master ledger"),
                l.t("总台账", "Master ledger"),
                ledger_columns(l, gb),
                Rows::Ready(Some(rows)),
            )
        }
        List::CarryOver => {
            let (as_of, filter) = super::carryover::report_query(ctx, s).await?;
            filters.push((l.t("截至", "As of").to_owned(), as_of.to_string()));
            if let Some(u) = filter.under {
                filters.push((
                    l.t("下级节点", "Subtree of").to_owned(),
                    format!("{} ({u})", names.node(u.as_str())),
                ));
            }
            let report = s.ledger.carry_over(as_of, &filter).await?;
            (
                l.t("结转结余", "Carry-over"),
                l.t("结转结余", "Carry-over"),
                carryover_columns(l),
                Rows::Ready(Some(carryover_rows(&names, &report))),
            )
        }
        List::SelfEvaluation => {
            let report = super::report::report_query(ctx, s).await?;
            filters.push((l.t("年度", "Year").to_owned(), report.year.to_string()));
            filters.push((
                l.t("单位", "Node").to_owned(),
                format!("{} ({})", report.node_name, report.node),
            ));
            (
                l.t("财政专项扶贫资金绩效自评报告", "Self-evaluation report"),
                l.t("绩效自评", "Self-evaluation"),
                self_evaluation_columns(l),
                Rows::Ready(Some(self_evaluation_rows(&names, &report))),
            )
        }
        List::Evaluation => {
            let y = super::evaluation::year_query(ctx, s).await?;
            filters.push((l.t("年度", "Year").to_owned(), y.year.to_string()));
            filters.push((
                l.t("单位", "Node").to_owned(),
                format!("{} ({})", names.node(&y.node), y.node),
            ));
            (
                l.t("年度绩效自评", "Year-end self-evaluation"),
                l.t("绩效自评", "Self-evaluation"),
                evaluation_columns(l),
                Rows::Ready(Some(evaluation_rows(&names, &y))),
            )
        }
    };
    Ok(Export {
        head: Head {
            title: format!("{}（{}）", title, l.t("金额单位：元", "amounts in yuan")),
            filters,
            sheet: sheet.to_owned(),
            columns,
        },
        rows,
        names,
        file,
    })
}

/// The filters among `keys` given in the query, as `(label, value)`, the
/// value named as the page names it.
fn given(ctx: &Ctx, n: &Names, keys: &[&str]) -> Vec<(String, String)> {
    let l = n.lang;
    ctx.filters(keys)
        .into_iter()
        .map(|(k, v)| {
            let value = match k.as_str() {
                "kind" => match l.allocation_kind(&v) {
                    "?" => v,
                    kind => kind.to_owned(),
                },
                "fund_origin" => match l.fund_origin(&v) {
                    o if o == l.fund_origin("?") => v,
                    o => o.to_owned(),
                },
                "category" => match n.categories.get(&v) {
                    Some(name) => format!("{name} ({v})"),
                    None => v,
                },
                _ => match n.nodes.get(&v) {
                    Some(name) => format!("{name} ({v})"),
                    None => v,
                },
            };
            (super::lists::filter_label(l, &k), value)
        })
        .collect()
}

fn rule_label(l: Lang, rule: &str) -> String {
    match rule.parse::<crate::warnings::Rule>() {
        Ok(r) => {
            let (zh, en) = r.label();
            l.t(zh, en).to_owned()
        }
        Err(_) => rule.to_owned(),
    }
}

fn grouping_text(l: Lang, gb: &[GroupBy]) -> String {
    gb.iter()
        .map(|g| match g {
            GroupBy::Node => l.t("节点", "node"),
            GroupBy::FundCategory => l.t("资金类别", "fund category"),
            GroupBy::FundOrigin => l.t("资金来源", "fund source"),
        })
        .collect::<Vec<_>>()
        .join(" × ")
}

/// Who recorded a record, as text: `张三 (zhangsan · 国库支付)`.
fn actor_text(l: Lang, a: Option<&Actor>) -> Cell {
    let Some(a) = a else { return Cell::Empty };
    let role = match a.role.parse::<Role>() {
        Ok(r) => l.t(r.zh(), r.as_str()).to_owned(),
        Err(_) if a.is_system() => l.t("系统", "system").to_owned(),
        Err(_) => a.role.clone(),
    };
    Cell::Text(format!("{} ({} · {role})", a.name, a.login))
}

fn cols(l: Lang, spec: &[(&'static str, &'static str, u16)]) -> Vec<Column> {
    spec.iter()
        .map(|(zh, en, w)| Column::new(l.t(zh, en), *w))
        .collect()
}

fn allocation_columns(l: Lang) -> Vec<Column> {
    cols(
        l,
        &[
            ("日期", "Date", 11),
            ("指标文号", "Document no.", 22),
            ("标题", "Title", 30),
            ("类型", "Kind", 10),
            ("资金类别", "Fund category", 24),
            ("类别编码", "Category code", 10),
            ("资金来源", "Source", 12),
            ("下达单位", "From", 16),
            ("持有单位", "Holder", 16),
            ("持有单位代码", "Holder code", 10),
            ("金额（元）", "Amount (yuan)", 16),
            ("已下达（元）", "Issued (yuan)", 16),
            ("已支付（元）", "Paid (yuan)", 16),
            ("可用（元）", "Available (yuan)", 16),
            ("来源指标", "Source allocation", 14),
            ("编号", "ID", 14),
            ("录入人", "Recorded by", 24),
        ],
    )
}

fn allocation_row(n: &Names, a: &crate::ledger::query::AllocationView) -> Vec<Cell> {
    let l = n.lang;
    vec![
        Cell::text(&a.dated),
        Cell::text(&a.doc_no),
        Cell::text(&a.title),
        Cell::text(match l.allocation_kind(&a.kind) {
            "?" => a.kind.as_str(),
            k => k,
        }),
        Cell::text(n.category(&a.category)),
        Cell::text(&a.category),
        Cell::text(l.fund_origin(&a.fund_origin)),
        Cell::opt(a.from_node.as_deref().map(|f| n.node(f))),
        Cell::text(n.node(&a.holder)),
        Cell::text(&a.holder),
        Cell::Money(a.amount),
        Cell::Money(a.issued),
        Cell::Money(a.paid),
        Cell::Money(a.available),
        Cell::opt(a.source.clone()),
        Cell::text(&a.id),
        actor_text(l, a.actor.as_ref()),
    ]
}

fn payment_columns(l: Lang) -> Vec<Column> {
    cols(
        l,
        &[
            ("支付日期", "Paid on", 11),
            ("凭证号", "Voucher", 16),
            ("支付单位", "Node", 14),
            ("单位代码", "Node code", 10),
            ("付款人", "Payer", 20),
            ("收款人", "Payee", 20),
            ("收款账号", "Payee account", 22),
            ("开户行", "Payee bank", 20),
            ("金额（元）", "Amount (yuan)", 16),
            ("功能分类", "Function class", 10),
            ("项目", "Project", 12),
            ("指标", "Allocation", 14),
            ("用途", "Purpose", 24),
            ("状态", "Status", 8),
            ("冲销日期", "Reversed on", 11),
            ("冲销原因", "Reversal reason", 20),
            ("录入人", "Recorded by", 24),
            ("编号", "ID", 14),
        ],
    )
}

fn payment_row(n: &Names, p: &crate::ledger::query::PaymentView) -> Vec<Cell> {
    let l = n.lang;
    vec![
        Cell::text(&p.paid_on),
        Cell::text(&p.voucher_no),
        Cell::text(n.node(&p.origin)),
        Cell::text(&p.origin),
        Cell::text(&p.payer),
        Cell::text(&p.payee_name),
        Cell::text(&p.payee_account),
        Cell::text(&p.payee_bank),
        Cell::Money(p.amount),
        Cell::text(&p.function_class),
        Cell::text(&p.project),
        Cell::text(&p.allocation),
        Cell::text(&p.purpose),
        Cell::text(if p.reversed_on.is_some() {
            l.t("已冲销", "Reversed")
        } else {
            l.t("有效", "Valid")
        }),
        Cell::opt(p.reversed_on.clone()),
        Cell::opt(p.reversal_reason.clone()),
        actor_text(l, p.actor.as_ref()),
        Cell::text(&p.id),
    ]
}

fn warning_columns(l: Lang) -> Vec<Column> {
    cols(
        l,
        &[
            ("规则", "Rule", 14),
            ("单位", "Node", 14),
            ("单位代码", "Node code", 10),
            ("说明", "What", 50),
            ("金额（元）", "Amount (yuan)", 16),
            ("截至", "As of", 11),
            ("状态", "State", 8),
            ("解除日期", "Resolved as of", 11),
            ("编号", "ID", 14),
        ],
    )
}

fn warning_row(n: &Names, w: &crate::ledger::query::WarningView) -> Vec<Cell> {
    let l = n.lang;
    // The text in the reader's language, from the rule and its values.
    let shown = crate::warnings::store::WarningShown::of(w.clone());
    let text = match l {
        Lang::Zh => shown.text,
        Lang::En => shown.text_en,
    };
    vec![
        Cell::text(rule_label(l, &w.rule)),
        Cell::text(n.node(&w.node)),
        Cell::text(&w.node),
        Cell::text(&text),
        w.amount.map_or(Cell::Empty, Cell::Money),
        Cell::text(&w.as_of),
        Cell::text(if w.open {
            l.t("未处理", "open")
        } else {
            l.t("已解除", "resolved")
        }),
        Cell::opt(w.resolved_as_of.clone()),
        Cell::text(&w.id),
    ]
}

fn ledger_columns(l: Lang, gb: &[GroupBy]) -> Vec<Column> {
    let mut spec = Vec::new();
    for g in gb {
        match g {
            GroupBy::Node => {
                spec.push(("节点", "Node", 18));
                spec.push(("节点代码", "Node code", 10));
                spec.push(("层级", "Level", 8));
            }
            GroupBy::FundOrigin => spec.push(("资金来源", "Fund source", 12)),
            GroupBy::FundCategory => {
                spec.push(("资金类别", "Fund category", 24));
                spec.push(("类别编码", "Category code", 10));
            }
        }
    }
    spec.extend([
        ("上级下达（元）", "Received (yuan)", 18),
        ("本级安排（元）", "Own budget (yuan)", 18),
        ("下达下级（元）", "Issued down (yuan)", 18),
        ("已支付（元）", "Paid (yuan)", 18),
        ("结余（元）", "Balance (yuan)", 18),
        ("支出进度", "Spent", 10),
    ]);
    cols(l, &spec)
}

/// The master ledger's rows in the page's order, then the total.
fn ledger_rows(n: &Names, p: &super::ledger::LedgerPage) -> Vec<Vec<Cell>> {
    let l = n.lang;
    let gb = &p.summary.group_by;
    let levels: HashMap<&str, &str> = p
        .nodes
        .iter()
        .map(|v| (v.code.as_str(), v.level.as_str()))
        .collect();
    let figures = |r: &crate::ledger::query::SummaryRow| -> Vec<Cell> {
        let spendable = r
            .received
            .checked_add(r.own_budget)
            .and_then(|x| x.checked_sub(r.issued_down));
        let ratio = spendable
            .filter(|d| *d > Decimal::ZERO)
            .and_then(|d| r.paid.checked_div(d))
            .map_or(Cell::Empty, |x| Cell::Ratio(x.round_dp(4)));
        vec![
            Cell::Money(r.received),
            Cell::Money(r.own_budget),
            Cell::Money(r.issued_down),
            Cell::Money(r.paid),
            Cell::Money(r.balance),
            ratio,
        ]
    };
    let mut out: Vec<Vec<Cell>> = super::ledger::sorted_rows(p)
        .into_iter()
        .map(|r| {
            let mut cells = Vec::new();
            for g in gb {
                match g {
                    GroupBy::Node => {
                        let code = r.group.get("node").cloned().unwrap_or_default();
                        let level = levels.get(code.as_str()).copied().unwrap_or("");
                        cells.push(Cell::text(n.node(&code)));
                        cells.push(Cell::text(&code));
                        cells.push(Cell::text(l.level_str(level)));
                    }
                    GroupBy::FundOrigin => cells.push(Cell::text(
                        l.fund_origin(r.group.get("fund_origin").map_or("", String::as_str)),
                    )),
                    GroupBy::FundCategory => {
                        let code = r.group.get("fund_category").cloned().unwrap_or_default();
                        cells.push(Cell::text(n.category(&code)));
                        cells.push(Cell::text(code));
                    }
                }
            }
            cells.extend(figures(r));
            cells
        })
        .collect();
    let group_cols = gb
        .iter()
        .map(|g| match g {
            GroupBy::Node => 3,
            GroupBy::FundOrigin => 1,
            GroupBy::FundCategory => 2,
        })
        .sum::<usize>();
    let mut total = vec![Cell::text(l.t("合计", "Total"))];
    total.resize(group_cols.max(1), Cell::Empty);
    total.extend(figures(&p.summary.total));
    out.push(total);
    out
}

/// A public list's filters as `(label, value)`: nodes by name, a category
/// by its name (it is one the public may see: the filter was checked).
fn public_given(ctx: &Ctx, n: &Names, keys: &[&str]) -> Vec<(String, String)> {
    let l = n.lang;
    ctx.filters(keys)
        .into_iter()
        .map(|(k, v)| {
            let label = match k.as_str() {
                "node" => l.t("发布单位", "published by"),
                "category" => l.t("资金类别", "fund category"),
                "recipient" => l.t("接收单位", "recipient"),
                "township" => l.t("乡镇", "township"),
                "village" => l.t("村", "village"),
                "publication" => l.t("公示", "notice"),
                _ => "",
            };
            let value = match k.as_str() {
                "category" => n.categories.get(&v).cloned().unwrap_or(v),
                "node" | "recipient" => match n.nodes.get(&v) {
                    Some(name) => format!("{name} ({v})"),
                    None => v,
                },
                _ => v,
            };
            (label.to_owned(), value)
        })
        .collect()
}

fn public_allocation_columns(l: Lang) -> Vec<Column> {
    cols(
        l,
        &[
            ("下达日期", "Date", 11),
            ("指标文号", "Document no.", 22),
            ("资金类别", "Fund category", 24),
            ("下达单位", "Issued by", 16),
            ("接收单位", "Recipient", 16),
            ("金额（元）", "Amount (yuan)", 16),
            ("资金用途", "Purpose", 30),
            ("公示文号", "Notice no.", 22),
            ("公示日期", "Published on", 11),
        ],
    )
}

/// A published allocation result: only what its notice made public.
fn public_allocation_row(a: &crate::ledger::query::PublicAllocation) -> Vec<Cell> {
    vec![
        Cell::text(&a.dated),
        Cell::text(&a.doc_no),
        Cell::text(&a.category_name),
        Cell::text(&a.publisher_name),
        Cell::text(&a.recipient_name),
        Cell::Money(a.amount),
        Cell::text(&a.purpose),
        Cell::text(&a.notice_doc_no),
        Cell::text(&a.published_on),
    ]
}

fn public_project_columns(l: Lang) -> Vec<Column> {
    cols(
        l,
        &[
            ("乡镇", "Township", 14),
            ("村", "Village", 14),
            ("项目名称", "Project", 30),
            ("项目编码", "Code", 14),
            ("实施单位", "Node", 16),
            ("开工日期", "Starts on", 11),
            ("完工日期", "Ends on", 11),
            ("项目资金（元）", "Funds (yuan)", 16),
            ("已使用（元）", "Paid (yuan)", 16),
            ("资金使用进度", "Progress", 10),
            ("状态", "Status", 10),
            ("公示文号", "Notice no.", 22),
            ("公示日期", "Published on", 11),
        ],
    )
}

/// A published project, as of its notice.
fn public_project_row(n: &Names, p: &crate::ledger::query::PublicProject) -> Vec<Cell> {
    let ratio = (p.budget > Decimal::ZERO)
        .then(|| p.paid.checked_div(p.budget))
        .flatten()
        .map_or(Cell::Empty, |x| Cell::Ratio(x.round_dp(4)));
    vec![
        Cell::text(&p.township),
        Cell::text(&p.village),
        Cell::text(&p.name),
        Cell::text(&p.code),
        Cell::text(&p.node_name),
        Cell::text(&p.starts_on),
        Cell::text(&p.ends_on),
        Cell::Money(p.budget),
        Cell::Money(p.paid),
        ratio,
        Cell::text(super::projects::status_label(n.lang, &p.status)),
        Cell::text(&p.notice_doc_no),
        Cell::text(&p.published_on),
    ]
}

fn self_evaluation_columns(l: Lang) -> Vec<Column> {
    vec![
        Column::new(l.t("部分", "Part"), 10),
        Column::new(l.t("日期 / 年度", "Day / year"), 12),
        Column::new(l.t("单位 / 资金", "Node / funds"), 36),
        Column::new(l.t("项目", "Project"), 36),
        Column::new(l.t("原因 / 5 日内下达", "Reason / within 5 days"), 16),
        Column::new(l.t("金额（元）", "Amount (yuan)"), 16),
        Column::new(l.t("说明", "Note"), 30),
    ]
}

/// The report as rows: 一 a row a year and the total, 二 a row a batch
/// and one a part, 四(一) a row a county, a fund source and a project.
fn self_evaluation_rows(n: &Names, r: &crate::ledger::query::SelfEvaluation) -> Vec<Vec<Cell>> {
    let l = n.lang;
    let mut out = Vec::new();
    let one = l.t("一", "1");
    for y in &r.own_budget {
        out.push(vec![
            Cell::text(one),
            Cell::text(y.year.to_string()),
            Cell::text(format!("{} ({})", r.node_name, r.node)),
            Cell::Empty,
            Cell::Empty,
            Cell::Money(y.amount),
            Cell::text(if y.entries == 0 {
                l.t("账本无记录", "none in the ledger")
            } else {
                ""
            }),
        ]);
    }
    out.push(vec![
        Cell::text(one),
        Cell::text(l.t("合计", "Total")),
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Money(r.own_budget_total),
        Cell::Empty,
    ]);
    let two = l.t("二", "2");
    for b in &r.batches {
        out.push(vec![
            Cell::text(two),
            Cell::text(b.issued_on.to_string()),
            Cell::text(l.t("本批合计", "Batch")),
            Cell::text(b.docs.join("；")),
            Cell::text(if b.within_five_days {
                l.t("是", "yes")
            } else {
                l.t("否", "no")
            }),
            Cell::Money(b.amount),
            Cell::text(match (b.received_on, b.days) {
                (Some(d), Some(k)) => format!(
                    "{}{d}，{k}{}",
                    l.t("到位 ", "arrived "),
                    l.t(" 天", " days")
                ),
                _ => String::new(),
            }),
        ]);
        for p in &b.parts {
            out.push(vec![
                Cell::text(two),
                Cell::text(b.issued_on.to_string()),
                Cell::text(n.category(&p.category)),
                Cell::Empty,
                Cell::Empty,
                Cell::Money(p.amount),
                Cell::text(l.fund_origin(&p.fund_origin)),
            ]);
        }
    }
    out.push(vec![
        Cell::text(two),
        Cell::text(l.t("合计", "Total")),
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Money(r.batches_total),
        Cell::Empty,
    ]);
    let four = l.t("四(一)", "4.(1)");
    let c = &r.carry_over;
    let on = r.carry_over_on.to_string();
    for x in c.by_node.iter().filter(|x| !x.figures.balance.is_zero()) {
        out.push(vec![
            Cell::text(four),
            Cell::text(&on),
            Cell::text(x.node_name.clone()),
            Cell::Empty,
            Cell::Empty,
            Cell::Money(x.figures.balance),
            Cell::Empty,
        ]);
    }
    for x in c.by_source.iter().filter(|x| !x.figures.balance.is_zero()) {
        out.push(vec![
            Cell::text(four),
            Cell::text(&on),
            Cell::text(format!(
                "{} · {}",
                x.node_name,
                l.fund_origin(x.fund_origin.as_deref().unwrap_or(""))
            )),
            Cell::Empty,
            Cell::Empty,
            Cell::Money(x.figures.balance),
            Cell::Empty,
        ]);
    }
    for x in &c.by_project {
        out.push(vec![
            Cell::text(four),
            Cell::text(&on),
            Cell::text(x.node_name.clone()),
            Cell::text(format!("{} {}", x.project, x.project_name)),
            Cell::text(super::carryover::reason_label(l, &x.reason)),
            Cell::Money(x.amount),
            Cell::text(format!("{}{}", l.t("计划支付 ", "planned "), x.planned_on)),
        ]);
    }
    out.push(vec![
        Cell::text(four),
        Cell::text(l.t("合计", "Total")),
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Money(c.total.balance),
        Cell::Empty,
    ]);
    out
}

fn evaluation_columns(l: Lang) -> Vec<Column> {
    cols(
        l,
        &[
            ("类别", "Section", 10),
            ("单位", "Node", 16),
            ("单位代码", "Node code", 10),
            ("项目 / 报告", "Project / report", 28),
            ("主管科室", "Department", 14),
            ("记录编号", "Entry", 14),
            ("项目资金（元）", "Funds (yuan)", 16),
            ("指标完成", "Indicators met", 10),
            ("日期", "Date", 11),
            ("结论 / 状态", "Verdict / status", 14),
            ("说明", "Note", 40),
        ],
    )
}

/// The year as rows: a project a row (evaluated or not), a report a row,
/// a sampled evaluation a row with its finding and rectification.
fn evaluation_rows(n: &Names, y: &crate::ledger::query::EvaluationYear) -> Vec<Vec<Cell>> {
    let l = n.lang;
    let mut out = Vec::new();
    for p in &y.projects {
        let e = p.evaluation.as_ref();
        out.push(vec![
            Cell::text(l.t("项目自评", "Project")),
            Cell::text(n.node(&p.node)),
            Cell::text(p.node.clone()),
            Cell::text(format!("{} {}", p.code, p.name)),
            Cell::text(p.department.clone()),
            Cell::text(e.map(|e| e.id.clone()).unwrap_or_default()),
            Cell::Money(p.budget),
            Cell::text(
                e.map(|e| format!("{}/{}", e.met, e.indicators))
                    .unwrap_or_default(),
            ),
            Cell::text(e.map(|e| e.evaluated_on.clone()).unwrap_or_default()),
            Cell::text(if e.is_some() {
                l.t("已自评", "evaluated")
            } else {
                l.t("未自评", "not evaluated")
            }),
            Cell::text(
                e.map(|e| {
                    [e.shortfall.as_str(), e.measures.as_str()]
                        .iter()
                        .filter(|t| !t.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join("；")
                })
                .unwrap_or_default(),
            ),
        ]);
    }
    for r in &y.reports {
        out.push(vec![
            Cell::text(l.t("自评报告", "Report")),
            Cell::text(n.node(&r.origin)),
            Cell::text(r.origin.clone()),
            Cell::text(super::evaluation::scope_label(l, &r.scope)),
            Cell::text(r.department.clone()),
            Cell::text(r.id.clone()),
            Cell::Money(r.funds),
            Cell::text(format!("{}/{}", r.met, r.indicators)),
            Cell::text(r.compiled_on.clone()),
            Cell::text(if r.current {
                l.t("现行", "current")
            } else {
                l.t("已被取代", "superseded")
            }),
            Cell::text(r.summary.clone()),
        ]);
    }
    for c in &y.spot_checks {
        for x in &c.sample {
            let f = x.finding.as_ref();
            let status = match f {
                None => l.t("待检查", "to check").to_owned(),
                Some(f) => {
                    let mut v = super::evaluation::verdict_label(l, &f.verdict).to_owned();
                    if let Some(r) = &f.rectification {
                        let (zh, en) = crate::warnings::follow_up::status_label(&r.status);
                        v = format!("{v} · {}", l.t(zh, en));
                    }
                    v
                }
            };
            out.push(vec![
                Cell::text(l.t("抽查", "Spot check")),
                Cell::text(n.node(&x.origin)),
                Cell::text(x.origin.clone()),
                Cell::text(format!("{} · {}", c.title, x.project)),
                Cell::Empty,
                Cell::text(x.evaluation.clone()),
                Cell::Empty,
                Cell::Empty,
                Cell::text(
                    f.map(|f| f.found_on.clone())
                        .unwrap_or_else(|| c.checked_on.clone()),
                ),
                Cell::text(status),
                Cell::text(f.map(|f| f.notes.clone()).unwrap_or_default()),
            ]);
        }
    }
    out
}

fn carryover_columns(l: Lang) -> Vec<Column> {
    cols(
        l,
        &[
            ("单位", "Node", 16),
            ("单位代码", "Node code", 10),
            ("资金来源", "Fund source", 12),
            ("资金类别", "Fund category", 24),
            ("类别编码", "Category code", 10),
            ("指标文号", "Document no.", 22),
            ("指标编号", "Allocation", 14),
            ("结转结余（元）", "Carried over (yuan)", 16),
            ("已说明（元）", "Explained (yuan)", 16),
            ("未说明（元）", "Unexplained (yuan)", 16),
            ("结转原因", "Reason", 12),
            ("项目编码", "Project", 12),
            ("项目名称", "Project name", 20),
            ("金额（元）", "Amount (yuan)", 16),
            ("计划支付日期", "Planned payment", 12),
            ("说明截至", "Reason as of", 11),
            ("说明", "Note", 24),
            ("录入人", "Recorded by", 24),
        ],
    )
}

/// One row per reason of each allocation carried over (an allocation
/// without reasons: one row without them), then the total.
fn carryover_rows(n: &Names, r: &crate::ledger::query::CarryOverReport) -> Vec<Vec<Cell>> {
    let l = n.lang;
    let mut out = Vec::new();
    for a in &r.allocations {
        let head = || {
            vec![
                Cell::text(&a.holder_name),
                Cell::text(&a.holder),
                Cell::text(l.fund_origin(&a.fund_origin)),
                Cell::text(n.category(&a.category)),
                Cell::text(&a.category),
                Cell::text(&a.doc_no),
                Cell::text(&a.id),
                Cell::Money(a.figures.balance),
                Cell::Money(a.figures.explained),
                Cell::Money(a.figures.unexplained),
            ]
        };
        if a.reasons.is_empty() {
            let mut row = head();
            row.resize(18, Cell::Empty);
            out.push(row);
        }
        for x in &a.reasons {
            let mut row = head();
            row.extend([
                Cell::text(super::carryover::reason_label(l, &x.reason)),
                Cell::text(&x.project),
                Cell::text(&x.project_name),
                Cell::Money(x.amount),
                Cell::text(&x.planned_on),
                Cell::text(&x.as_of),
                Cell::text(&x.note),
                actor_text(l, x.actor.as_ref()),
            ]);
            out.push(row);
        }
    }
    let mut total = vec![Cell::text(l.t("合计", "Total"))];
    total.resize(7, Cell::Empty);
    total.extend([
        Cell::Money(r.total.balance),
        Cell::Money(r.total.explained),
        Cell::Money(r.total.unexplained),
    ]);
    out.push(total);
    out
}
