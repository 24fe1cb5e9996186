//! One file per entry kind: what the node checks before it records one
//! (`check`), what it checks before it takes one replicated from another
//! node (`check_replicated`), and how it changes the derived tables
//! (`apply`), side by side. The central matches in [`super::work`] have one
//! arm per kind and call these; nothing else writes the tables a kind
//! derives.
//!
//! Every file has the same three functions:
//!
//! - `check(work, body, encoded) -> Result<Option<EntryId>, LedgerError>`:
//!   the local rules; `Ok(Some(id))` means the same thing is already
//!   recorded as `id` (an idempotent retry), `Ok(None)` that it may be
//!   appended. The body has passed its stateless `validate`.
//! - `check_replicated(work, received, body) -> Result<(), LedgerError>`:
//!   what no honest origin could have written (see
//!   [`Work::check_replicated`]); most kinds have nothing to check.
//! - `apply(work, entry, body) -> Result<(), LedgerError>`: the projection,
//!   for local and replicated entries alike. The journal row and the head
//!   are the caller's.

pub(super) mod allocation_issued;
pub(super) mod carry_over_explained;
pub(super) mod category_defined;
pub(super) mod child_registered;
pub(super) mod child_revoked;
pub(super) mod follow_up_assigned;
pub(super) mod follow_up_recorded;
pub(super) mod funds_recalled;
pub(super) mod funds_received;
pub(super) mod key_registered;
pub(super) mod link_reported;
pub(super) mod own_budget_added;
pub(super) mod payment_recorded;
pub(super) mod payment_reversed;
pub(super) mod project_registered;
pub(super) mod project_status_changed;
pub(super) mod results_published;
pub(super) mod security_event;
pub(super) mod target_actual_recorded;
pub(super) mod target_adjusted;
pub(super) mod target_set;
pub(super) mod targets_approved;
pub(super) mod targets_reviewed;
pub(super) mod warning_raised;
pub(super) mod warning_resolved;
// Protocol version 5: year-end self-evaluation and spot checks.
pub(super) mod evaluation_report_compiled;
pub(super) mod self_evaluation_recorded;
pub(super) mod spot_check_finding;
pub(super) mod spot_check_recorded;

use chrono::NaiveDate;
use fundsync_protocol::{Entry, EntryId, NodeCode};
use sqlx::Row;

use super::error::LedgerError;
use super::rows::parse_id;
use super::state::Alloc;
use super::state::Work;

/// A replicated entry being checked, for refusals that name it.
#[derive(Debug, Clone, Copy)]
pub(in crate::ledger) struct Received<'e> {
    pub(in crate::ledger) entry: &'e Entry,
    pub(in crate::ledger) kind: &'static str,
}

impl Received<'_> {
    /// Refuses the entry as misdirected: no honest origin writes it.
    fn refuse(&self, why: String) -> Result<(), LedgerError> {
        Err(LedgerError::Misdirected {
            entry: self.entry.id(),
            kind: self.kind,
            why,
        })
    }

    /// For entries that name a child of their origin (money issued to it,
    /// its key, its revocation, a warning about it): refuses the entry
    /// unless `child` is a registered child of the origin.
    async fn expect_child(
        &self,
        w: &mut Work<'_>,
        child: NodeCode,
        rule: &str,
    ) -> Result<(), LedgerError> {
        let o = self.entry.origin;
        if w.node(child).await?.and_then(|n| n.2) != Some(o) {
            return self.refuse(format!("{rule}; {child} is not a child of {o}"));
        }
        Ok(())
    }

    /// For entries that draw on an allocation: refuses (for now, see
    /// [`Work::check_replicated`]) one this node does not hold yet.
    async fn expect_held(&self, w: &mut Work<'_>, allocation: EntryId) -> Result<(), LedgerError> {
        if w.alloc(allocation).await?.is_none() {
            return Err(LedgerError::NotYetHeld {
                entry: self.entry.id(),
                allocation,
            });
        }
        Ok(())
    }
}

/// The answer to a submission whose natural key is already recorded:
/// the same fields are a retry, others a conflict.
fn existing(
    what: &'static str,
    key: &str,
    found: (EntryId, bool),
) -> Result<Option<EntryId>, LedgerError> {
    match found {
        (id, true) => Ok(Some(id)),
        (_, false) => Err(LedgerError::Conflict {
            what,
            key: key.to_owned(),
        }),
    }
}

// ---- shared by the kinds that make allocations (funds received, own
// budget, allocation issued) ----

impl Work<'_> {
    /// An existing allocation with the same natural key, and whether its
    /// fields match.
    async fn same_allocation(
        &mut self,
        kind: &str,
        holder: NodeCode,
        doc_no: &str,
        key: &str,
        amount_fen: i64,
        dated: NaiveDate,
    ) -> Result<Option<(EntryId, bool)>, LedgerError> {
        let row = sqlx::query(
            "SELECT id, amount_fen, dated FROM allocations \
             WHERE holder = $1 AND doc_no = $2 AND kind = $3 AND (category = $4 OR source_id = $4)",
        )
        .bind(holder.as_str())
        .bind(doc_no)
        .bind(kind)
        .bind(key)
        .fetch_optional(self.conn().await?)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let same = r.try_get::<i64, _>(1)? == amount_fen
            && r.try_get::<String, _>(2)? == dated.to_string();
        Ok(Some((parse_id(&r.try_get::<String, _>(0)?)?, same)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_allocation(
        &mut self,
        id: EntryId,
        kind: &str,
        doc_no: &str,
        category: &str,
        amount_fen: i64,
        from: Option<NodeCode>,
        holder: NodeCode,
        source: Option<EntryId>,
        dated: NaiveDate,
        title: &str,
    ) -> Result<(), LedgerError> {
        let fund_origin = match self.category(category).await? {
            Some((o, _)) => o.as_str(),
            None => "unknown",
        };
        sqlx::query(
            "INSERT INTO allocations (id, origin, kind, doc_no, category, fund_origin, amount_fen, from_node, \
             holder, source_id, dated, title) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id.to_string())
        .bind(id.origin.as_str())
        .bind(kind)
        .bind(doc_no)
        .bind(category)
        .bind(fund_origin)
        .bind(amount_fen)
        .bind(from.map(|f| f.as_str().to_owned()))
        .bind(holder.as_str())
        .bind(source.map(|s| s.to_string()))
        .bind(dated.to_string())
        .bind(title)
        .execute(self.conn().await?)
        .await?;
        self.allocs.insert(
            id,
            Alloc {
                holder,
                category: category.to_owned(),
                amount_fen,
                issued_fen: 0,
                paid_fen: 0,
                recalled_fen: 0,
                dated,
                dirty: false,
            },
        );
        Ok(())
    }
}
