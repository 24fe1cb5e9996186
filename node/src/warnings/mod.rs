//! Early warnings (预警): the rules of DOMAIN.md, evaluated by every node
//! about what it answers for, raised and resolved as journal entries so they
//! roll up to the region like payments do.
//!
//! # Shape
//!
//! - [`rules`]: each rule is a pure function from plain data ([`rules::Facts`])
//!   and the thresholds ([`WarningsConfig`]) to findings, with exact
//!   arithmetic (integer fen, `Decimal` percentages). [`rules::plan`] diffs the
//!   findings against the warnings this node has raised before and says what
//!   to raise and what to resolve. Both are unit-tested without a database.
//! - [`evaluate`]: the thin part with I/O. It reads the facts through the
//!   read pool, runs the rules and records every raise and resolution of one
//!   evaluation in one write transaction of its own (never inside anyone
//!   else's). It runs when the ledger changes (debounced, so an import or a
//!   sync batch is evaluated once) and on a schedule (deadlines pass and
//!   nodes fall silent without any write); a failure is logged and the next
//!   trigger tries again.
//! - [`store`]: reads of the `warnings` table. Only `Work::apply` writes it
//!   (the architecture invariant), in the ledger's `kinds/warning_raised.rs`
//!   and `kinds/warning_resolved.rs`; the reads behind
//!   `GET /api/v1/warnings` and [`store::open_counts`] (pages, metrics).
//! - [`render`]: a warning's text from its rule and values, in Chinese or
//!   English; the values of warnings written before they were kept, read
//!   back from their English message.
//! - [`follow_up`]: assigning a warning to a person with a deadline and the
//!   assignee's answers (整改), as entries of the warning's node that roll
//!   up with it.
//! - [`http`]: the API handlers.
//!
//! # Why entries
//!
//! A warning is a fact about the ledger at a business date, and supervisors
//! above must see it: as journal entries, warnings replicate up with
//! everything else and carry the raising node's signature, and an auditor
//! sees when each was raised and resolved. They never travel down
//! (`Body::down_to` is `None` for them). Each node raises warnings only
//! about what it answers for, so nothing is warned twice across levels:
//!
//! | rule | raised by | about |
//! |---|---|---|
//! | `issue_deadline` 超时滞留 | the region, a prefecture | allocations it received (from the parent or the centre) |
//! | `idle_funds` 闲置 | every node | allocations and own budgets it holds |
//! | `slow_spending` 支出进度 | every node | allocations and own budgets it holds |
//! | `overspend` 超支 | every node | its projects (and, defensively, its allocations) |
//! | `unmatched_payment` | every node | its own payments |
//! | `duplicate_payment`, `split_payments`, `negative_list` 可疑收款人 | every node | its own payments |
//! | `missing_target` 缺少绩效目标 | every node | its own projects |
//! | `node_silent` 失联 | the region, a prefecture | its direct children |
//! | `target_deviation` 绩效目标偏离 | every node | its own projects' targets |
//!
//! A warning is named by its origin, rule and subject (`allocation:652800-17`,
//! `project:LT2020-001`, `payment:652822-40`, `payee:…`, `node:652822`). The
//! ledger refuses nothing here but keeps it idempotent: raising a warning that
//! is still open returns the open one, resolving a resolved one returns the
//! resolution. A condition that clears is resolved; if it comes back, a new
//! warning is raised.
//!
//! One rule looks at the past as well as the present: an allocation passed on
//! late but now in full (say, recorded from paper after the fact) was still
//! held beyond the deadline. The evaluator records that once, as a warning
//! raised and resolved in the same transaction, and never again.
//!
//! # Which "today"
//!
//! Rules that compare business dates with today (issue deadline, idle funds,
//! slow spending, missing target) take today from [`WarningsConfig::as_of`]:
//! the injected clock (China Standard Time) by default; a fixed date, to audit
//! a past year; or `latest`, the latest business date recorded in the ledger
//! (never after the clock's today). The demo needs `latest`: it replays 2020
//! with the real clock (TLS certificates are checked against it), so with the
//! clock every 2020 balance would look years idle; and with a fixed
//! 2020-12-31, every batch not yet replayed would look late while the replay
//! runs. With `latest`, today moves with the replay, so a batch the seed
//! issues within 5 days is never seen late. `node_silent` compares wall-clock
//! times (the child's last entry, written with its clock — link reports are a
//! heartbeat) with this node's clock, whatever `as_of` says.
//!
//! # What is not here
//!
//! Allocations carry no performance targets in this ledger (projects do), so
//! `missing_target` is about projects only. Link lag and certificate expiry
//! are on `/sync/health`. An officer cannot dismiss a warning by hand (a
//! suppression would need its own entry kind).

pub mod evaluate;
pub mod follow_up;
pub mod http;
pub mod render;
pub mod rules;
pub mod store;

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use fundsync_protocol::Amount;
use serde::{Deserialize, Serialize};

pub use evaluate::{run, Evaluator, Report};
pub use render::render;
pub use store::{open_counts, WarningFilter, WarningView};

/// A warning rule. The wire carries its name (see `WarningRaised::rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// 超时滞留: an allocation received but not passed on within N days.
    IssueDeadline,
    /// 闲置: a balance with no payment or issue for N days, or left near the
    /// year end.
    IdleFunds,
    /// Spending progress behind time-elapsed progress by more than X points.
    SlowSpending,
    /// Payments above a project's budget (or an allocation's amount).
    Overspend,
    /// A payment that does not match its allocation or project.
    UnmatchedPayment,
    /// The same payee, amount and day under two vouchers.
    DuplicatePayment,
    /// One payee paid many times just under a limit within a window.
    SplitPayments,
    /// A payee on the negative list.
    NegativeList,
    /// A project without performance targets N days after it started.
    MissingTarget,
    /// A child node not heard from for N hours.
    NodeSilent,
    /// 绩效目标偏离: a target's actual short of it on a completed project,
    /// or, during the project, behind time-elapsed progress (序时进度) by
    /// more than `slow_spending_points` (seed 003 第十条).
    TargetDeviation,
}

impl Rule {
    pub const ALL: &'static [Rule] = &[
        Rule::IssueDeadline,
        Rule::IdleFunds,
        Rule::SlowSpending,
        Rule::Overspend,
        Rule::UnmatchedPayment,
        Rule::DuplicatePayment,
        Rule::SplitPayments,
        Rule::NegativeList,
        Rule::MissingTarget,
        Rule::NodeSilent,
        Rule::TargetDeviation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::IssueDeadline => "issue_deadline",
            Rule::IdleFunds => "idle_funds",
            Rule::SlowSpending => "slow_spending",
            Rule::Overspend => "overspend",
            Rule::UnmatchedPayment => "unmatched_payment",
            Rule::DuplicatePayment => "duplicate_payment",
            Rule::SplitPayments => "split_payments",
            Rule::NegativeList => "negative_list",
            Rule::MissingTarget => "missing_target",
            Rule::NodeSilent => "node_silent",
            Rule::TargetDeviation => "target_deviation",
        }
    }

    /// The rule's name for people: (Chinese, English).
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Rule::IssueDeadline => ("超时滞留", "held beyond the issue deadline"),
            Rule::IdleFunds => ("资金闲置", "idle funds"),
            Rule::SlowSpending => ("支出进度慢于序时进度", "slow spending"),
            Rule::Overspend => ("超支", "overspend"),
            Rule::UnmatchedPayment => ("支付不匹配", "unmatched payment"),
            Rule::DuplicatePayment => ("重复支付", "duplicate payment"),
            Rule::SplitPayments => ("拆分支付", "split payments"),
            Rule::NegativeList => ("负面清单收款人", "payee on the negative list"),
            Rule::MissingTarget => ("缺少绩效目标", "missing performance target"),
            Rule::NodeSilent => ("节点失联", "node silent"),
            Rule::TargetDeviation => ("绩效目标偏离", "performance target deviation"),
        }
    }

    /// Why an open warning of this rule is resolved when its condition no
    /// longer holds.
    pub fn cleared(self) -> &'static str {
        match self {
            Rule::IssueDeadline => "passed on in full",
            Rule::IdleFunds => "the balance is spent, passed on or moving again",
            Rule::SlowSpending => "spending caught up with time-elapsed progress",
            Rule::Overspend => "payments are back within the budget",
            Rule::UnmatchedPayment => "the payment was reversed or now matches",
            Rule::DuplicatePayment => "the duplicates were reversed",
            Rule::SplitPayments => "the payments no longer form the pattern",
            Rule::NegativeList => "the payment was reversed or the payee is off the negative list",
            Rule::MissingTarget => "the project has a performance target or was cancelled",
            Rule::NodeSilent => "heard from again (or revoked)",
            Rule::TargetDeviation => {
                "the actual is reported and meets the target or keeps pace, or the target was adjusted"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown rule name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown warning rule {0:?}; the rules are {rules}", rules = Rule::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))]
pub struct UnknownRule(pub String);

impl FromStr for Rule {
    type Err = UnknownRule;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rule::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRule(s.to_owned()))
    }
}

/// Which business date the rules take as today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsOf {
    /// Today on the node's clock, in China Standard Time.
    #[default]
    Today,
    /// The latest business date recorded in the ledger, never after the
    /// clock's today: for replaying history (the demo).
    Latest,
    /// A fixed date: for auditing a past year.
    Date(NaiveDate),
}

impl FromStr for AsOf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "today" => Ok(AsOf::Today),
            "latest" => Ok(AsOf::Latest),
            d => d.parse().map(AsOf::Date).map_err(|_| {
                format!("as_of {d:?}: expected \"today\", \"latest\" or a date like \"2020-12-31\"")
            }),
        }
    }
}

impl fmt::Display for AsOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsOf::Today => f.write_str("today"),
            AsOf::Latest => f.write_str("latest"),
            AsOf::Date(d) => write!(f, "{d}"),
        }
    }
}

impl Serialize for AsOf {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AsOf {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

crate::settings::settings! {
    /// The `[warnings]` section of the configuration. Defaults come from the
    /// seeds where they give one (the 5-day issue deadline of seed 002).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct WarningsConfig, raw WarningsConfigRaw {
        /// Evaluate the rules on this node. Warnings of its descendants
        /// arrive and are listed either way.
        pub enabled: bool = true,
        /// The business date rules take as today: "today" (the clock, China
        /// Standard Time), "latest" (the latest business date in the ledger,
        /// not after today; for replaying history) or a date like "2020-12-31".
        pub as_of: AsOf = AsOf::Today,
        /// How often the rules run even when nothing was written (ms):
        /// deadlines pass and nodes fall silent without any write. At least
        /// 1000.
        pub evaluate_every_ms: u64 = 600_000,
        /// How long after a write the evaluation waits (ms), so a burst of
        /// writes (an import, a sync batch) is evaluated once.
        pub debounce_ms: u64 = 500,
        /// Longest an evaluation waits for a burst of writes to end (ms), so
        /// a long sync or import is looked at now and then.
        pub burst_wait_ms: u64 = 10_000,
        /// Most raises and resolutions one evaluation records; the rest
        /// follow in the next evaluation, straight after. Bounds a
        /// transaction when a rule first meets a large backlog (a negative
        /// list applied to a year of vouchers). At least 1.
        pub entries_per_evaluation_max: usize = 1000,
        /// Days a node with children may hold an allocation it received
        /// before it must have passed all of it on (seed 002: 5).
        pub issue_deadline_days: u32 = 5,
        /// Days without a payment or issue after which a balance is idle.
        pub idle_days: u32 = 90,
        /// A balance still held this many days before 31 December is idle
        /// too (0: off). Allocations dated inside that window (issued in
        /// advance for next year) are exempt.
        pub year_end_days: u32 = 30,
        /// Percentage points by which spending progress (issued and paid /
        /// amount) may trail time-elapsed progress before it is slow.
        pub slow_spending_points: u32 = 20,
        /// The limit (yuan) that split payments stay just under.
        pub split_payment_limit: Amount = Amount::from_fen(5_000_000)
            .unwrap_or_else(|_| unreachable!("50000.00 is a valid amount")),
        /// "Just under": within this many percent below the limit.
        pub split_margin_pct: u32 = 10,
        /// The window (days) in which split payments to one payee are counted.
        pub split_window_days: u32 = 30,
        /// How many payments just under the limit to one payee within the
        /// window make a warning (at least 2).
        pub split_count: u32 = 3,
        /// Payee names or account numbers that must not be paid (exact
        /// match, ignoring surrounding spaces and ASCII case).
        pub negative_list: Vec<String> = Vec::new(),
        /// Days after its start a project may still lack a performance target.
        pub missing_target_days: u32 = 30,
        /// Hours without any entry from a child before it is silent.
        pub node_silent_hours: u32 = 24,
    }
}

impl Default for WarningsConfig {
    fn default() -> Self {
        <WarningsConfig as crate::settings::Settings>::from_raw(WarningsConfigRaw::default())
            .unwrap_or_else(|_| unreachable!("every [warnings] field has a default"))
    }
}

impl crate::settings::FromEnv for AsOf {
    fn from_env(s: &str) -> Result<Self, String> {
        s.trim().parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_round_trip_and_fit_the_wire() {
        for r in Rule::ALL {
            assert_eq!(r.as_str().parse::<Rule>(), Ok(*r));
            assert!(r
                .as_str()
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c == b'_'));
        }
        let e = "idel_funds".parse::<Rule>().expect_err("unknown");
        assert!(e.to_string().contains("idle_funds"), "{e}");
    }

    #[test]
    fn as_of_parses() {
        assert_eq!("today".parse::<AsOf>(), Ok(AsOf::Today));
        assert_eq!("latest".parse::<AsOf>(), Ok(AsOf::Latest));
        let d = NaiveDate::from_ymd_opt(2020, 12, 31).expect("date");
        assert_eq!("2020-12-31".parse::<AsOf>(), Ok(AsOf::Date(d)));
        assert!("yesterday".parse::<AsOf>().is_err());
        assert!("2020-13-01".parse::<AsOf>().is_err());
    }

    #[test]
    fn the_section_round_trips_and_refuses_unknown_fields() {
        #[derive(Deserialize)]
        struct Wrap {
            warnings: WarningsConfig,
        }
        let mut c = WarningsConfig {
            as_of: AsOf::Latest,
            negative_list: vec!["某某公司".into(), "6222 0000".into()],
            ..WarningsConfig::default()
        };
        c.split_count = 4;
        let mut text = String::from("[warnings]\n");
        crate::settings::Settings::write_fields(&c, &mut text);
        let back: Wrap = toml::from_str(&text).expect("parses");
        assert_eq!(back.warnings, c);
        // Missing fields take their defaults.
        let w: Wrap = toml::from_str("[warnings]\nidle_days = 7\n").expect("parses");
        assert_eq!(w.warnings.idle_days, 7);
        assert_eq!(w.warnings.issue_deadline_days, 5);
        assert!(toml::from_str::<Wrap>("[warnings]\nidle_dayz = 7\n").is_err());
        assert!(toml::from_str::<Wrap>("[warnings]\nas_of = \"soon\"\n").is_err());
        assert!(toml::from_str::<Wrap>("[warnings]\nsplit_payment_limit = \"-1\"\n").is_err());
    }
}
