//! The node's own rules for what it records itself, set by whoever opens
//! the ledger (`server.rs` fills them in from the `[rules]` section of the
//! configuration; the ledger reads no configuration).
//!
//! They are checked in [`Work::check_local`](super::work) only, never on
//! entries replicated from other nodes: each node's settings may differ,
//! and an ancestor must never refuse a descendant's history (nor a node its
//! own old journal replayed) because its window is narrower than the one
//! the entry was recorded under.

use chrono::NaiveDate;
use fundsync_protocol::Body;

use super::error::LedgerError;

/// The business dates this node accepts in what it records, both ends
/// included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateWindow {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateWindow {
    /// 2000-01-01 … 2100-12-31: every plausible budget year, and nothing
    /// like 0001-01-01 or 9999-12-31 typed by mistake.
    pub const DEFAULT: DateWindow = DateWindow {
        from: match NaiveDate::from_ymd_opt(2000, 1, 1) {
            Some(d) => d,
            None => NaiveDate::MIN,
        },
        to: match NaiveDate::from_ymd_opt(2100, 12, 31) {
            Some(d) => d,
            None => NaiveDate::MAX,
        },
    };

    pub fn contains(&self, d: NaiveDate) -> bool {
        self.from <= d && d <= self.to
    }

    /// Refuses the first dated field of `body` outside the window.
    pub fn check(&self, body: &Body) -> Result<(), LedgerError> {
        for (field, date) in dates(body) {
            if !self.contains(date) {
                return Err(LedgerError::DateOutOfRange {
                    field,
                    date,
                    from: self.from,
                    to: self.to,
                });
            }
        }
        Ok(())
    }
}

impl Default for DateWindow {
    fn default() -> Self {
        DateWindow::DEFAULT
    }
}

/// Everything the ledger checks of a node's own entries beyond the
/// protocol's rules. The default is what `[rules]` defaults to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerRules {
    /// The business dates accepted.
    pub dates: DateWindow,
    /// Whether a payment to a project, and its move to 实施 (in progress),
    /// need every target of the project approved (批复, seed 003 §7–9),
    /// rather than only one set. On by default; a node upgraded with
    /// projects whose targets were set before the cycle existed may turn
    /// it off until they are reviewed and approved.
    pub target_approval_required: bool,
}

impl Default for LedgerRules {
    fn default() -> Self {
        LedgerRules {
            dates: DateWindow::DEFAULT,
            target_approval_required: true,
        }
    }
}

/// Every business date of a body, by field name. Exhaustive, so a new
/// kind has to say which dates it carries.
fn dates(body: &Body) -> Vec<(&'static str, NaiveDate)> {
    match body {
        Body::FundsReceived(b) => vec![("received_on", b.received_on)],
        Body::OwnBudgetAdded(b) => vec![("budgeted_on", b.budgeted_on)],
        Body::AllocationIssued(b) => vec![("issued_on", b.issued_on)],
        Body::ProjectRegistered(b) => vec![("starts_on", b.starts_on), ("ends_on", b.ends_on)],
        Body::TargetActualRecorded(b) => vec![("recorded_on", b.recorded_on)],
        Body::PaymentRecorded(b) => vec![("paid_on", b.paid_on)],
        Body::PaymentReversed(b) => vec![("reversed_on", b.reversed_on)],
        Body::WarningRaised(b) => vec![("as_of", b.as_of)],
        Body::WarningResolved(b) => vec![("as_of", b.as_of)],
        Body::FollowUpAssigned(b) => {
            vec![("assigned_on", b.assigned_on), ("deadline", b.deadline)]
        }
        Body::FollowUpRecorded(b) => vec![("recorded_on", b.recorded_on)],
        Body::ResultsPublished(b) => vec![("published_on", b.published_on)],
        Body::CarryOverExplained(b) => vec![("as_of", b.as_of), ("planned_on", b.planned_on)],
        Body::FundsRecalled(b) => vec![("recalled_on", b.recalled_on)],
        Body::TargetAdjusted(b) => vec![("adjusted_on", b.adjusted_on)],
        Body::TargetsReviewed(b) => vec![("reviewed_on", b.reviewed_on)],
        Body::TargetsApproved(b) => vec![("approved_on", b.approved_on)],
        Body::SelfEvaluationRecorded(b) => {
            let mut d = vec![("evaluated_on", b.evaluated_on)];
            if let Some(start) = b.year_start() {
                d.push(("year", start));
            }
            d
        }
        Body::EvaluationReportCompiled(b) => {
            let mut d = vec![("compiled_on", b.compiled_on)];
            if let Some(start) = chrono::NaiveDate::from_ymd_opt(b.year, 1, 1) {
                d.push(("year", start));
            }
            d
        }
        Body::SpotCheckRecorded(b) => {
            let mut d = vec![("checked_on", b.checked_on)];
            if let Some(start) = chrono::NaiveDate::from_ymd_opt(b.year, 1, 1) {
                d.push(("year", start));
            }
            d
        }
        Body::SpotCheckFinding(b) => vec![("found_on", b.found_on)],
        Body::ChildRegistered(_)
        | Body::CategoryDefined(_)
        | Body::ProjectStatusChanged(_)
        | Body::TargetSet(_)
        | Body::KeyRegistered(_)
        | Body::ChildRevoked(_)
        | Body::LinkReported(_)
        | Body::SecurityEvent(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundsync_protocol::body::PaymentReversed;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn reversal(on: &str) -> Body {
        Body::PaymentReversed(PaymentReversed {
            voucher_no: "V1".into(),
            reversed_on: d(on),
            reason: "x".into(),
        })
    }

    #[test]
    fn the_default_window_and_its_edges() {
        let w = DateWindow::default();
        assert_eq!((w.from, w.to), (d("2000-01-01"), d("2100-12-31")));
        for ok in ["2000-01-01", "2020-05-10", "2100-12-31"] {
            assert!(w.check(&reversal(ok)).is_ok(), "{ok}");
        }
        for bad in ["0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31"] {
            let e = w.check(&reversal(bad)).expect_err(bad);
            assert_eq!(
                e.to_string(),
                format!(
                    "reversed_on {bad} is outside the dates this node accepts \
                     (2000-01-01 to 2100-12-31)"
                )
            );
        }
    }
}
