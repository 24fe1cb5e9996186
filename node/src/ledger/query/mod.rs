//! Reads: lists, single records, the master ledger summary, and the typed
//! reads other parts of the node need (warnings, link health, the warning
//! rules' facts), by topic.
//!
//! All reads use the read pool and the derived tables; none takes the
//! writer. Rows are read by column name into `sqlx::FromRow` structs and
//! converted into the views; statements with optional filters are built
//! with [`Sql`], which numbers its placeholders.

mod alarms;
mod carryover;
mod digest;
mod evaluation;
pub mod facts;
mod journal;
mod links;
mod projects;
mod publications;
mod records;
mod report;
mod search;
mod security;
mod summary;
mod targets;
mod warnings;

use serde::Serialize;

use super::{Ledger, LedgerError};
use crate::store::Sql;

pub use alarms::SyncAlarm;
pub use carryover::{
    CarryOverAllocation, CarryOverFigures, CarryOverFilter, CarryOverLine, CarryOverProject,
    CarryOverReasonView, CarryOverReport,
};
pub use evaluation::{
    draw, EvaluationProject, EvaluationView, EvaluationYear, FindingView, IndicatorView,
    RectificationView, ReportDraft, ReportView, SampleView, SpotCheckView,
};
pub use facts::{
    ChildHeard, HeldAllocation, IssuedFrom, PaidDay, PaymentBody, ProjectRecord, TargetRecord,
};
pub use journal::JournalView;
pub use links::LinkReportRow;
pub use projects::{ActualView, Funding, LatestActual, ProjectFilter};
pub use publications::{
    CandidateFilter, PublicAllocation, PublicAllocationFilter, PublicNotice, PublicProject,
    PublicProjectFilter, PublicTotals, PublicationFilter, PublicationView, PublishCandidate,
};
pub use records::{
    AllocationFilter, AllocationView, CategoryView, NodeView, PaymentFilter, PaymentView,
    ProjectView, TargetView, Trace, TraceStep,
};
pub use report::{BatchPart, OwnBudgetYear, ReportBatch, SelfEvaluation, ISSUE_DAYS_MAX};
pub use search::{SearchFilter, SearchHit, SearchKind, SEARCH_TEXT_CHARS_MAX};
pub use security::{SecurityFilter, SecurityRow};
pub use summary::{GroupBy, Summary, SummaryRow};
pub use targets::{FilingFilter, SubmissionView};
pub use warnings::{
    FollowUpFilter, FollowUpStep, FollowUpView, RaisedWarning, WarningFilter, WarningScope,
    WarningView,
};

/// Largest page a list returns.
pub const PAGE_SIZE_MAX: u32 = 1000;

/// A page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: u32,
    pub page_size: u32,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            page: 1,
            page_size: 100,
        }
    }
}

/// One page of results.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub page_size: u32,
    pub has_more: bool,
}

/// Runs `sql` (a SELECT with its filters and ORDER BY) for one page: one
/// row more than the page holds says whether there is more.
async fn fetch_page<R>(
    ledger: &Ledger,
    mut sql: Sql<'_>,
    page: Page,
) -> Result<(Vec<R>, bool), LedgerError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let size = page.page_size.clamp(1, PAGE_SIZE_MAX);
    let offset = i64::from(page.page.max(1) - 1) * i64::from(size);
    sql.push(" LIMIT ")
        .bind(i64::from(size) + 1)
        .push(" OFFSET ")
        .bind(offset);
    let mut rows: Vec<R> = sql.query_as()?.fetch_all(ledger.db().read()).await?;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let more = rows.len() > size;
    rows.truncate(size);
    Ok((rows, more))
}

fn paged<T>(items: Vec<T>, page: Page, has_more: bool) -> Paged<T> {
    Paged {
        items,
        page: page.page.max(1),
        page_size: page.page_size.clamp(1, PAGE_SIZE_MAX),
        has_more,
    }
}
