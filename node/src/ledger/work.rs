//! One write transaction over the ledger: rules, entries and derived tables.
//!
//! Architecture invariant: balances change only here, through [`Work::apply`],
//! for local and replicated entries alike, inside the transaction that
//! appends the entry to the journal. A `Work` that is dropped without
//! [`Work::commit`] rolls back, leaving the ledger as it was.
//!
//! This file holds how an entry is made from a body and
//! the three central dispatchers (`check_local`,
//! `check_replicated`, `apply_entry`), one arm per entry
//! kind; each kind's rules and projection live side by side in
//! `kinds/`. The `Work` itself and the rows it keeps are in `state.rs`,
//! the transaction and its flush in `tx.rs`, the
//! in-transaction caches in `cache.rs`, other reads in
//! `lookup.rs`, the down streams in `down.rs`, the hand-off to
//! the pusher in `own.rs`.
//!
//! Hot-path state (allocation balances, project totals, vouchers, payment and
//! journal rows, daily sums) is kept in memory and flushed in multi-row
//! statements; everything rare is written at once with single statements, so
//! reads later in the same transaction see it.

use fundsync_protocol::body::{validate_actor, BodyError};
use fundsync_protocol::{Actor, Body, Entry, EntryId, Hash, NodeCode};

use super::error::LedgerError;
use super::kinds;
use super::state::{Head, JournalRow, Work, FLUSH_ROWS};

/// What a local submission resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new entry was appended.
    Created(EntryId),
    /// The same thing was already recorded (an idempotent retry).
    Existing(EntryId),
}

impl Outcome {
    pub fn id(self) -> EntryId {
        match self {
            Outcome::Created(id) | Outcome::Existing(id) => id,
        }
    }
}

/// A body that passed its stateless validation, with its encoding: the
/// exact bytes that will be stored and hashed, which name the actor who
/// caused it. Made only by [`Prepared::new`], so every body recorded has
/// been validated exactly once and no entry is recorded without an actor.
#[derive(Debug, Clone)]
pub struct Prepared {
    body: Body,
    encoded: Vec<u8>,
    /// The entry's hash, if worked out ahead for the chain position it was
    /// worked out at ([`Prepared::hash_at`]).
    hashed: Option<(ChainPos, Hash)>,
}

/// Where an entry of a chain goes: what its hash depends on besides its
/// own kind and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainPos {
    pub origin: NodeCode,
    pub seq: u64,
    pub at_ms: i64,
    pub prev_hash: Hash,
}

impl Prepared {
    /// Validates `body` and `actor` and encodes the body attributed to the
    /// actor. Entries the node makes by itself take [`Actor::system`].
    pub fn new(body: Body, actor: &Actor) -> Result<Prepared, BodyError> {
        body.validate()?;
        validate_actor(actor)?;
        let encoded = body.encode(actor);
        Ok(Prepared {
            body,
            encoded,
            hashed: None,
        })
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Hashes the entry this body would be at `pos`, and returns the
    /// position after it (`None` past the last seq). An import does this
    /// on its parser thread, guessing that every row becomes the next
    /// entry; [`Work::record_prepared`] uses the hash only if the entry
    /// really lands at `pos`, and hashes it itself otherwise.
    pub fn hash_at(&mut self, pos: ChainPos) -> Option<ChainPos> {
        let hash = fundsync_protocol::entry::entry_hash(
            pos.origin,
            pos.seq,
            pos.at_ms,
            &pos.prev_hash,
            self.body.kind(),
            &self.encoded,
        );
        self.hashed = Some((pos, hash));
        Some(ChainPos {
            seq: pos.seq.checked_add(1)?,
            prev_hash: hash,
            ..pos
        })
    }
}

impl<'l> Work<'l> {
    /// Where this node's next entry would go in this transaction.
    pub async fn own_chain_pos(&mut self) -> Result<ChainPos, LedgerError> {
        let head = self.head(self.me.code).await?;
        Ok(ChainPos {
            origin: self.me.code,
            seq: head.seq.checked_add(1).ok_or(LedgerError::Overflow)?,
            at_ms: self.now_ms,
            prev_hash: head.hash,
        })
    }

    // ---- local rules ----

    /// Checks a body this node wants to record against the ledger. `Ok(Some)`
    /// means the same thing is already recorded and nothing needs appending.
    async fn check_local(
        &mut self,
        body: &Body,
        encoded: &[u8],
    ) -> Result<Option<EntryId>, LedgerError> {
        // `body` is valid: a `Prepared` is made only through `Prepared::new`.
        // The node's own rules (its date window) apply here and never in
        // `check_replicated`: another node, or this one before its settings
        // changed, recorded under its own, and an ancestor must never refuse
        // a descendant's history because their settings differ.
        self.rules.dates.check(body)?;
        use kinds::*;
        match body {
            Body::ChildRegistered(b) => child_registered::check(self, b, encoded).await,
            Body::CategoryDefined(b) => category_defined::check(self, b, encoded).await,
            Body::FundsReceived(b) => funds_received::check(self, b, encoded).await,
            Body::OwnBudgetAdded(b) => own_budget_added::check(self, b, encoded).await,
            Body::AllocationIssued(b) => allocation_issued::check(self, b, encoded).await,
            Body::ProjectRegistered(b) => project_registered::check(self, b, encoded).await,
            Body::ProjectStatusChanged(b) => project_status_changed::check(self, b, encoded).await,
            Body::TargetSet(b) => target_set::check(self, b, encoded).await,
            Body::TargetActualRecorded(b) => target_actual_recorded::check(self, b, encoded).await,
            Body::PaymentRecorded(b) => payment_recorded::check(self, b, encoded).await,
            Body::PaymentReversed(b) => payment_reversed::check(self, b, encoded).await,
            Body::KeyRegistered(b) => key_registered::check(self, b, encoded).await,
            Body::ChildRevoked(b) => child_revoked::check(self, b, encoded).await,
            Body::LinkReported(b) => link_reported::check(self, b, encoded).await,
            Body::WarningRaised(b) => warning_raised::check(self, b, encoded).await,
            Body::WarningResolved(b) => warning_resolved::check(self, b, encoded).await,
            Body::SecurityEvent(b) => security_event::check(self, b, encoded).await,
            Body::FollowUpAssigned(b) => follow_up_assigned::check(self, b, encoded).await,
            Body::FollowUpRecorded(b) => follow_up_recorded::check(self, b, encoded).await,
            Body::ResultsPublished(b) => results_published::check(self, b, encoded).await,
            Body::CarryOverExplained(b) => carry_over_explained::check(self, b, encoded).await,
            Body::FundsRecalled(b) => funds_recalled::check(self, b, encoded).await,
            Body::TargetAdjusted(b) => target_adjusted::check(self, b, encoded).await,
            Body::TargetsReviewed(b) => targets_reviewed::check(self, b, encoded).await,
            Body::TargetsApproved(b) => targets_approved::check(self, b, encoded).await,
            Body::SelfEvaluationRecorded(b) => {
                self_evaluation_recorded::check(self, b, encoded).await
            }
            Body::EvaluationReportCompiled(b) => {
                evaluation_report_compiled::check(self, b, encoded).await
            }
            Body::SpotCheckRecorded(b) => spot_check_recorded::check(self, b, encoded).await,
            Body::SpotCheckFinding(b) => spot_check_finding::check(self, b, encoded).await,
        }
    }

    /// Checks what a replicated entry says against the tree, before it is
    /// applied. The origin's signature vouches that the origin wrote it and
    /// the origin enforced the money rules when it did; this refuses what no
    /// honest origin in its place could have written: money or keys moving
    /// up or sideways, funds "from the centre" registered below the top.
    ///
    /// It also refuses, for now, an entry that draws on an allocation this
    /// node does not hold yet: applied, it would leave that allocation's
    /// running sums without it when the allocation arrives. In a healthy tree
    /// the allocation always comes first (a node pushes its own chain before
    /// its children's, and holds what it issued); it can be missing only at a
    /// node behind its own parent, such as one restored from an old backup,
    /// which takes the entry again once it has caught up.
    pub(crate) async fn check_replicated(
        &mut self,
        entry: &Entry,
        body: &Body,
    ) -> Result<(), LedgerError> {
        use kinds::*;
        let r = Received {
            entry,
            kind: body.kind(),
        };
        match body {
            Body::ChildRegistered(b) => child_registered::check_replicated(self, &r, b).await,
            Body::CategoryDefined(b) => category_defined::check_replicated(self, &r, b).await,
            Body::FundsReceived(b) => funds_received::check_replicated(self, &r, b).await,
            Body::OwnBudgetAdded(b) => own_budget_added::check_replicated(self, &r, b).await,
            Body::AllocationIssued(b) => allocation_issued::check_replicated(self, &r, b).await,
            Body::ProjectRegistered(b) => project_registered::check_replicated(self, &r, b).await,
            Body::ProjectStatusChanged(b) => {
                project_status_changed::check_replicated(self, &r, b).await
            }
            Body::TargetSet(b) => target_set::check_replicated(self, &r, b).await,
            Body::TargetActualRecorded(b) => {
                target_actual_recorded::check_replicated(self, &r, b).await
            }
            Body::PaymentRecorded(b) => payment_recorded::check_replicated(self, &r, b).await,
            Body::PaymentReversed(b) => payment_reversed::check_replicated(self, &r, b).await,
            Body::KeyRegistered(b) => key_registered::check_replicated(self, &r, b).await,
            Body::ChildRevoked(b) => child_revoked::check_replicated(self, &r, b).await,
            Body::LinkReported(b) => link_reported::check_replicated(self, &r, b).await,
            Body::WarningRaised(b) => warning_raised::check_replicated(self, &r, b).await,
            Body::WarningResolved(b) => warning_resolved::check_replicated(self, &r, b).await,
            Body::SecurityEvent(b) => security_event::check_replicated(self, &r, b).await,
            Body::FollowUpAssigned(b) => follow_up_assigned::check_replicated(self, &r, b).await,
            Body::FollowUpRecorded(b) => follow_up_recorded::check_replicated(self, &r, b).await,
            Body::ResultsPublished(b) => results_published::check_replicated(self, &r, b).await,
            Body::CarryOverExplained(b) => {
                carry_over_explained::check_replicated(self, &r, b).await
            }
            Body::FundsRecalled(b) => funds_recalled::check_replicated(self, &r, b).await,
            Body::TargetAdjusted(b) => target_adjusted::check_replicated(self, &r, b).await,
            Body::TargetsReviewed(b) => targets_reviewed::check_replicated(self, &r, b).await,
            Body::TargetsApproved(b) => targets_approved::check_replicated(self, &r, b).await,
            Body::SelfEvaluationRecorded(b) => {
                self_evaluation_recorded::check_replicated(self, &r, b).await
            }
            Body::EvaluationReportCompiled(b) => {
                evaluation_report_compiled::check_replicated(self, &r, b).await
            }
            Body::SpotCheckRecorded(b) => spot_check_recorded::check_replicated(self, &r, b).await,
            Body::SpotCheckFinding(b) => spot_check_finding::check_replicated(self, &r, b).await,
        }
    }

    /// Checks a body against the rules and, unless it is already recorded,
    /// appends it to this node's journal, attributed to `actor`, and
    /// applies it.
    pub async fn record(&mut self, body: Body, actor: &Actor) -> Result<Outcome, LedgerError> {
        self.record_prepared(Prepared::new(body, actor)?).await
    }

    /// [`Work::record`] for a body validated and encoded beforehand (the
    /// import does that on its parser thread, beside the transaction).
    pub async fn record_prepared(&mut self, prepared: Prepared) -> Result<Outcome, LedgerError> {
        let Prepared {
            body,
            encoded,
            hashed,
        } = prepared;
        if let Some(id) = self.check_local(&body, &encoded).await? {
            return Ok(Outcome::Existing(id));
        }
        // Restored behind the acknowledgement mark: the next own seq is one
        // a holder already holds with another entry (see `restored.rs`).
        if let Some(r) = self.restored {
            return Err(LedgerError::Restored(r));
        }
        let me = self.me.code;
        let head = self.head(me).await?;
        let entry = Entry {
            origin: me,
            seq: head.seq.checked_add(1).ok_or(LedgerError::Overflow)?,
            at_ms: self.now_ms,
            prev_hash: head.hash,
            kind: body.kind().to_owned(),
            body: encoded,
        };
        let at = ChainPos {
            origin: entry.origin,
            seq: entry.seq,
            at_ms: entry.at_ms,
            prev_hash: entry.prev_hash,
        };
        // The kind and body are this `Prepared`'s own; the rest must match.
        let hash = match hashed {
            Some((pos, hash)) if pos == at => hash,
            _ => entry.hash(),
        };
        let id = entry.id();
        let copy = self.own_copy(&entry);
        self.apply(entry, hash, body).await?;
        self.keep_own_copy(copy);
        Ok(Outcome::Created(id))
    }

    // ---- effects (local and replicated entries) ----

    /// Applies an entry whose chain position has been checked: updates the
    /// head, the derived tables and buffers the journal row.
    pub async fn apply(&mut self, entry: Entry, hash: Hash, body: Body) -> Result<(), LedgerError> {
        self.apply_entry(entry, hash, body, true).await
    }

    /// Applies an entry of the parent's down stream: a sparse subset of the
    /// parent's journal, so it is stored and applied but is not the head of
    /// a chain this node holds (`journal_heads` names dense chains only).
    pub async fn apply_down(
        &mut self,
        entry: Entry,
        hash: Hash,
        body: Body,
    ) -> Result<(), LedgerError> {
        self.apply_entry(entry, hash, body, false).await
    }

    async fn apply_entry(
        &mut self,
        entry: Entry,
        hash: Hash,
        body: Body,
        chained: bool,
    ) -> Result<(), LedgerError> {
        let o = entry.origin;
        if o == self.me.code {
            if let Some(child) = body.down_to(o) {
                self.append_down(child, entry.seq, hash).await?;
            }
        }
        {
            use kinds::*;
            let e = &entry;
            match body {
                Body::ChildRegistered(b) => child_registered::apply(self, e, b).await?,
                Body::CategoryDefined(b) => category_defined::apply(self, e, b).await?,
                Body::FundsReceived(b) => funds_received::apply(self, e, b).await?,
                Body::OwnBudgetAdded(b) => own_budget_added::apply(self, e, b).await?,
                Body::AllocationIssued(b) => allocation_issued::apply(self, e, b).await?,
                Body::ProjectRegistered(b) => project_registered::apply(self, e, b).await?,
                Body::ProjectStatusChanged(b) => project_status_changed::apply(self, e, b).await?,
                Body::TargetSet(b) => target_set::apply(self, e, b).await?,
                Body::TargetActualRecorded(b) => target_actual_recorded::apply(self, e, b).await?,
                Body::PaymentRecorded(b) => payment_recorded::apply(self, e, b).await?,
                Body::PaymentReversed(b) => payment_reversed::apply(self, e, b).await?,
                Body::KeyRegistered(b) => key_registered::apply(self, e, b).await?,
                Body::ChildRevoked(b) => child_revoked::apply(self, e, b).await?,
                Body::LinkReported(b) => link_reported::apply(self, e, b).await?,
                Body::WarningRaised(b) => warning_raised::apply(self, e, b).await?,
                Body::WarningResolved(b) => warning_resolved::apply(self, e, b).await?,
                Body::SecurityEvent(b) => security_event::apply(self, e, b).await?,
                Body::FollowUpAssigned(b) => follow_up_assigned::apply(self, e, b).await?,
                Body::FollowUpRecorded(b) => follow_up_recorded::apply(self, e, b).await?,
                Body::ResultsPublished(b) => results_published::apply(self, e, b).await?,
                Body::CarryOverExplained(b) => carry_over_explained::apply(self, e, b).await?,
                Body::FundsRecalled(b) => funds_recalled::apply(self, e, b).await?,
                Body::TargetAdjusted(b) => target_adjusted::apply(self, e, b).await?,
                Body::TargetsReviewed(b) => targets_reviewed::apply(self, e, b).await?,
                Body::TargetsApproved(b) => targets_approved::apply(self, e, b).await?,
                Body::SelfEvaluationRecorded(b) => {
                    self_evaluation_recorded::apply(self, e, b).await?
                }
                Body::EvaluationReportCompiled(b) => {
                    evaluation_report_compiled::apply(self, e, b).await?
                }
                Body::SpotCheckRecorded(b) => spot_check_recorded::apply(self, e, b).await?,
                Body::SpotCheckFinding(b) => spot_check_finding::apply(self, e, b).await?,
            }
        }
        let seq = entry.seq;
        self.journal.push(JournalRow { entry, hash });
        if chained {
            self.heads.insert(o, Head { seq, hash });
            if !self.heads_dirty.contains(&o) {
                self.heads_dirty.push(o);
            }
        }
        if self.journal.len() >= FLUSH_ROWS || self.payments.len() >= FLUSH_ROWS {
            self.flush_rows().await?;
        }
        Ok(())
    }
}
