//! Reads of the `warnings` table, for the evaluator, the API and the pages.
//! The table is written only by the ledger's apply (`ledger/kinds/
//! warning_raised.rs` and `warning_resolved.rs`).

use std::collections::BTreeMap;

use fundsync_protocol::NodeCode;

use crate::ledger::{Ledger, LedgerError};

pub use crate::ledger::query::{WarningFilter, WarningView};

/// Open warnings by rule, over everything this node holds (its subtree):
/// for the pages' badges and for metrics.
pub async fn open_counts(ledger: &Ledger) -> Result<BTreeMap<String, i64>, LedgerError> {
    ledger.open_warning_counts().await
}

/// A warning this node raised, for the evaluator's diff.
pub(crate) async fn known(
    ledger: &Ledger,
    origin: NodeCode,
) -> Result<Vec<super::rules::Known>, LedgerError> {
    Ok(ledger
        .warnings_raised_by(origin)
        .await?
        .into_iter()
        .map(|w| super::rules::Known {
            id: w.id,
            rule: w.rule,
            subject: w.subject,
            open: w.open,
        })
        .collect())
}
