//! Reads of the `warnings` table, for the evaluator, the API and the pages.
//! The table is written only by the ledger's apply (`ledger/kinds/
//! warning_raised.rs` and `warning_resolved.rs`).

use std::collections::BTreeMap;

use fundsync_protocol::NodeCode;

use serde::Serialize;

use super::render::{self, Lang, Params};
use crate::accounts::User;
use crate::ledger::{Ledger, LedgerError};

pub use crate::ledger::query::{
    FollowUpFilter, FollowUpStep, FollowUpView, WarningFilter, WarningScope, WarningView,
};

/// A warning as it is shown: the stored view, its values (stored, or read
/// back from the message of a warning written before they were kept) and
/// its text and resolution in both languages.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WarningShown {
    #[serde(flatten)]
    pub view: WarningView,
    /// The rule's named values; `None` when an old message does not parse.
    pub params: Option<Params>,
    /// The text in Chinese, rendered from `rule` and `params`.
    pub text: String,
    /// The text in English.
    pub text_en: String,
    /// Why it was resolved, in Chinese.
    pub resolution_text: Option<String>,
}

impl WarningShown {
    pub fn of(view: WarningView) -> WarningShown {
        let params = view
            .stored_params
            .clone()
            .or_else(|| render::parse_legacy(&view.rule, &view.message));
        let text = render::text(&view.rule, params.as_ref(), &view.message, Lang::Zh);
        let text_en = render::text(&view.rule, params.as_ref(), &view.message, Lang::En);
        let resolution_text = view
            .resolution
            .as_deref()
            .map(|r| render::reason(&view.rule, r, Lang::Zh));
        WarningShown {
            view,
            params,
            text,
            text_en,
            resolution_text,
        }
    }

    /// The text in `lang`.
    pub fn text_in(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.text,
            Lang::En => &self.text_en,
        }
    }

    /// Why it was resolved, in `lang`.
    pub fn resolution_in(&self, lang: Lang) -> Option<String> {
        self.view
            .resolution
            .as_deref()
            .map(|r| render::reason(&self.view.rule, r, lang))
    }
}

/// What `u` may see of the warnings (department, 涉密); `None`: all.
pub async fn scope_of(u: &User, ledger: &Ledger) -> Result<Option<WarningScope>, LedgerError> {
    Ok(u.visible_categories(ledger)
        .await?
        .map(|categories| WarningScope {
            categories,
            department: u.scope().department,
        }))
}

/// Open warnings by rule, over everything this node holds (its subtree):
/// the rules with any open.
pub async fn open_counts(ledger: &Ledger) -> Result<BTreeMap<String, i64>, LedgerError> {
    ledger.open_warning_counts(true).await
}

/// Open warnings by rule for the `fundsync_warnings_open{rule}` gauge:
/// every rule of this release and every other rule that has had a warning
/// here (a descendant's newer rule), 0 when none is open, so the gauge goes
/// back to 0 when the last warning of a rule resolves instead of keeping
/// its last value (a gauge not set again keeps it).
pub async fn open_gauges(ledger: &Ledger) -> Result<BTreeMap<String, i64>, LedgerError> {
    let mut counts = ledger.open_warning_counts(false).await?;
    for rule in super::Rule::ALL {
        counts.entry(rule.as_str().to_owned()).or_insert(0);
    }
    Ok(counts)
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
