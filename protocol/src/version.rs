//! The sync protocol's version and the rule for talking across versions.
//!
//! Bureaus upgrade their nodes one at a time, so a parent and a child can run
//! different releases for a while. The rule has to be simple enough to reason
//! about during such a rollout:
//!
//! - The version is one number (a "major" version). Anything a peer could
//!   notice bumps it: the batch layout after the version field, the entry hash
//!   framing, the checkpoint signing bytes, or a new entry kind (older nodes
//!   refuse kinds they do not know). There are no minor versions and no
//!   optional fields, because the binary encoding has nowhere to put them.
//! - Every request carries the sender's version. A node accepts exactly the
//!   versions in [`SUPPORTED_VERSIONS`] and refuses everything else before
//!   reading the rest of the request.
//! - A release that introduces version N+1 keeps N in `SUPPORTED_VERSIONS` for
//!   as long as any peer may still speak N, and keeps sending N until its
//!   peers are known to accept N+1.
//! - A new request path that changes nothing in the existing ones is not a
//!   new version: an older peer answers it with 404, and the caller treats
//!   that as "not supported here" (so `GET /sync/v1/own`, by which a child
//!   restored from a backup takes its entries back, came without a bump; a
//!   child facing an older parent refuses to push instead, with that reason;
//!   likewise `POST /sync/v1/digest`, [`crate::wire::DIGEST_PATH`], by which
//!   a parent compares its copy of a child's money rows: an older parent's
//!   404 makes the child stop asking).
//! - A field added to a JSON answer that an older peer may leave out and
//!   may ignore is not a new version either: [`crate::wire::UpReceipt`]'s
//!   `refused` (the origins of a batch refused while the others were
//!   applied) is absent from an older parent's receipts, which refuse a
//!   batch whole, and an older child never sends a batch of more than one
//!   origin, so it never meets a receipt naming one.
//! - An entry kind a release stops writing is still accepted, verified and
//!   applied, for as long as journals hold it or older peers may send it.
//!   Link health is the first: `POST /sync/v1/health` ([`crate::wire::HEALTH_PATH`])
//!   came without a bump and replaces the `link_reported` entries, which a
//!   node no longer writes; ancestors still accept and apply them (a ledger
//!   written by an earlier release replays unchanged, and an older child
//!   still reports that way). A child whose parent answers the new path with
//!   404 goes on syncing; its health is seen there once the parent upgrades.
//!
//! ## Version 2: the actor inside the body
//!
//! Every entry written since version 2 names who caused it: its body bytes
//! are `{"actor":{...},"body":{...}}` ([`crate::body`]), the inner `body`
//! the kind's struct exactly as in version 1. The entry hash framing, the
//! checkpoint signing bytes and the batch layout are unchanged: the actor is
//! covered because it is part of the body bytes. What this means:
//!
//! - **Version 1 entries keep verifying, forever.** Their bytes are the bare
//!   struct; they decode with no actor, and a journal written by an earlier
//!   release replays and relays unchanged (their hashes are what they were).
//! - **A version 1 node refuses enveloped bodies** (`actor` and `body` are
//!   unknown fields of every kind), and it refuses version 2 requests before
//!   reading them anyway. So upgrade from the region downward: a parent
//!   before its children.
//! - **A version 2 parent accepts a version 1 child's pushes**: 1 stays in
//!   [`SUPPORTED_VERSIONS`], and the child's bare bodies decode with no
//!   actor (shown as unknown).
//! - Version 2 also brings a new kind, `security_event` (the security log,
//!   rolled up like payments), which a version 1 node refuses too: one
//!   more reason to upgrade downward.
//!
//! ## Version 3: warnings as a rule and its values, and their follow-up
//!
//! A `warning_raised` entry written since version 3 carries `params`, the
//! rule's findings as named values (amounts as decimal strings, dates, ids),
//! so every reader renders it in its own language; its `message` holds the
//! English rendering as before. Two new kinds record the follow-up (整改):
//! `follow_up_assigned` (a warning assigned to a person with a deadline) and
//! `follow_up_recorded` (核实情况, 整改措施 and the status), rolled up like
//! payments, never sent down. Framing, checkpoints and batches are unchanged.
//!
//! - **Version 1 and 2 entries keep verifying and rendering, forever.** A
//!   warning without `params` keeps its bytes; readers parse its values back
//!   from the English `message` the rules wrote (and show the stored text
//!   only if that fails).
//! - **A version 2 node refuses a warning with `params`** (an unknown field)
//!   **and the two new kinds**, so, as for version 2: **upgrade from the
//!   region downward**, a parent before its children. A version 3 parent
//!   accepts its version 1 and 2 children's pushes (both stay in
//!   [`SUPPORTED_VERSIONS`]); their warnings have no `params` and no
//!   follow-up until the child is upgraded.
//! - Also in version 3: `target_actual_recorded` gained `note` (what the
//!   figure rests on). It is left out of the bytes when empty, so every
//!   entry written before keeps its bytes and hash, and an actual recorded
//!   without a note is still accepted by an earlier release. One *with* a
//!   note is refused by an earlier release (`deny_unknown_fields`), like a
//!   new kind: the same downward upgrade.
//!
//! ## Version 4: publication, carry-over and recall
//!
//! New kinds only; framing, checkpoints, batches and every earlier kind's
//! bytes are unchanged, so every earlier entry keeps verifying. A version 3
//! node refuses the new kinds: **upgrade from the region downward**, as for
//! versions 2 and 3. A version 4 parent accepts its version 1–3 children's
//! pushes (all stay in [`SUPPORTED_VERSIONS`]).
//!
//! - `results_published` (公告公示): what a node made public, the allocations
//!   it issued or projects of its library named by entry id, with the
//!   notice's 文号, title and date; rolled up like payments, never sent down.
//! - Carry-over and recall: `carry_over_explained` (why part of an
//!   allocation's balance as of a date is carried over, for which project,
//!   when it is to be paid) and `funds_recalled` (收回 / 统筹: the holder
//!   returns unspent funds to the allocation's issuer), both recorded by the
//!   holder and rolled up like payments, never sent down.
//! - Error codes for refusals the HTTP layer makes before a handler runs
//!   (`bad_request`, `method_not_allowed`, `uri_too_long`,
//!   `headers_too_large`) are new in this release too; no bump: a peer that
//!   does not know a code reads it as `unknown`.
//!
//! ## Version 5: the target cycle
//!
//! New kinds only; framing, checkpoints, batches and every earlier kind's
//! bytes are unchanged, so every earlier entry keeps verifying. A version 4
//! node refuses the new kinds: **upgrade from the region downward**, as for
//! versions 2 to 4. A version 5 parent accepts its version 1–4 children's
//! pushes (all stay in [`SUPPORTED_VERSIONS`]).
//!
//! - The performance-target cycle (seed 003 第七–九条): a `target_set` entry
//!   is a target's submission (as before); `targets_reviewed` (审核: 必要性,
//!   相关性, 匹配性, passed or returned with reasons) and `targets_approved`
//!   (批复, with a 文号 and date) name the submissions they decide;
//!   `target_adjusted` (调整, or the revision of a returned target) is a new
//!   submission of a target that goes through the same two steps, the old
//!   value kept. All three are recorded by the node whose project it is and
//!   rolled up like payments, never sent down, so every ancestor holds its
//!   descendants' approved targets (备案). An ancestor refuses a review or
//!   approval naming a submission of another origin (`misdirected`).
//! - "No approved target, no funds" is a local rule of the recording node
//!   (`[rules] target_approval_required`, on by default), never a check of
//!   replicated entries: payments and target entries written before version
//!   5 replay and replicate unchanged.
//! - New error codes of the local API: `targets_not_approved`,
//!   `target_not_reviewed`, `target_not_pending`, `already_approved`,
//!   `not_own_target`.
//!
//! ## Version 5 (continued): year-end self-evaluation and spot checks
//!
//! New kinds only; framing, checkpoints, batches and every earlier kind's
//! bytes are unchanged. A version 4 node refuses the new kinds: **upgrade
//! from the region downward**. A version 5 parent accepts its version 1–4
//! children's pushes (all stay in [`SUPPORTED_VERSIONS`]). Each of these is
//! rolled up like payments and never sent down:
//!
//! - `self_evaluation_recorded` (绩效自评, seed 003 §13): a project's
//!   year-end evaluation by the node owning it, indicator by indicator
//!   (the target's entry, the actual, the officer's completion in percent),
//!   with the reasons for shortfalls and the measures to come.
//! - `evaluation_report_compiled` (绩效自评报告, §14): a department's or the
//!   node's report for a year, naming the evaluations it covers and the
//!   reports it builds on by entry id, with its figures (indicators, met,
//!   funds) fixed in the entry.
//! - `spot_check_recorded` (抽查) and `spot_check_finding` (符合 / 不符合):
//!   an ancestor's sample of its subtree's evaluations and what it found.
//!   A 不符合 finding's rectification (整改) is the version 3
//!   `follow_up_assigned` / `follow_up_recorded`, naming the finding's
//!   entry in the field that names a warning's: their bytes are unchanged,
//!   and a version 4 node refuses only the finding itself.
//!
//! ## Version 6: an actual's evidence reference
//!
//! `target_actual_recorded` gained `evidence` (佐证材料: a document number
//! or file reference, at most [`crate::body::EVIDENCE_CHARS_MAX`]
//! characters, no control characters), issue 16's "actuals carry a note and
//! an evidence reference". It is handled exactly as version 3's `note`: left
//! out of the bytes when empty, so every entry written before keeps its
//! bytes and hash, and an actual recorded without evidence is the same
//! entry a version 5 node writes and accepts. Framing, checkpoints, batches
//! and every other kind are unchanged.
//!
//! - **Version 1–5 entries keep verifying, forever**; they decode with no
//!   evidence.
//! - **A version 5 node refuses an actual with evidence** (an unknown field
//!   under `deny_unknown_fields`) and refuses version 6 requests before
//!   reading them, so, as for versions 2 to 5: **upgrade from the region
//!   downward**, a parent before its children. A version 6 parent accepts
//!   its version 1–5 children's pushes (all stay in [`SUPPORTED_VERSIONS`]);
//!   their actuals carry no evidence until the child is upgraded.

/// The version this node speaks.
pub const PROTOCOL_VERSION: u16 = 6;

/// The versions this node accepts from peers: 1–5 for children not
/// upgraded yet (see "Version 2" to "Version 6" above).
pub const SUPPORTED_VERSIONS: &[u16] = &[1, 2, 3, 4, 5, 6];

/// A peer spoke a version this node does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "peer speaks protocol version {theirs}, but this node speaks version {ours} \
     and accepts only versions {SUPPORTED_VERSIONS:?}"
)]
pub struct VersionError {
    pub ours: u16,
    pub theirs: u16,
}

/// Checks a peer's version against [`SUPPORTED_VERSIONS`].
pub fn check_version(peer: u16) -> Result<(), VersionError> {
    if SUPPORTED_VERSIONS.contains(&peer) {
        Ok(())
    } else {
        Err(VersionError {
            ours: PROTOCOL_VERSION,
            theirs: peer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_own_version_and_the_one_before() {
        assert!(SUPPORTED_VERSIONS.contains(&PROTOCOL_VERSION));
        assert_eq!(check_version(PROTOCOL_VERSION), Ok(()));
        assert_eq!(check_version(1), Ok(()));
        assert_eq!(check_version(2), Ok(()));
        assert_eq!(check_version(3), Ok(()));
        assert_eq!(check_version(4), Ok(()));
        assert_eq!(check_version(5), Ok(()));
    }

    #[test]
    fn refuses_other_versions_naming_both() {
        for v in [0, 7, u16::MAX] {
            let e = check_version(v).expect_err("unsupported");
            assert_eq!(e, VersionError { ours: 6, theirs: v });
            let msg = e.to_string();
            assert!(msg.contains(&format!("version {v}")), "{msg}");
            assert!(msg.contains("speaks version 6"), "{msg}");
        }
    }
}
