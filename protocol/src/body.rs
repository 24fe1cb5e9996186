//! What an entry says: the body kinds of the journal.
//!
//! Each kind is a plain struct, encoded once as JSON when the entry is
//! created; those exact bytes are hashed and replicated, and receivers decode
//! them with `deny_unknown_fields`. `validate` checks everything that can be
//! checked without the ledger (text limits, shapes); the ledger checks the rest
//! (balances, tree, references).
//!
//! Since protocol version 2 the bytes are an envelope naming who caused the
//! entry, `{"actor":{...},"body":{...}}` (compact, `actor` first, the inner
//! `body` the kind's struct exactly as before), so the actor is hashed and
//! signed with the rest and no relay can change it. Bytes written before
//! (the bare struct) keep decoding, with no actor: a body is an envelope
//! exactly when its bytes begin with [`ENVELOPE_PREFIX`]. See
//! [`crate::version`] for what this means for peers of either version.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;

use ed25519_dalek::VerifyingKey;

use crate::hash::KeyId;
use crate::ids::{EntryId, FundOrigin, NodeCode};
use crate::money::Amount;

/// Longest accepted text field, in characters.
pub const TEXT_CHARS_MAX: usize = 500;
/// Longest accepted code-like field (document numbers, voucher numbers, codes).
pub const CODE_CHARS_MAX: usize = 64;
/// Longest accepted evidence reference of an actual (文号 and file names,
/// e.g. "巴财农〔2020〕12号；验收报告.pdf"), in characters.
pub const EVIDENCE_CHARS_MAX: usize = 200;

/// Why a body was refused before looking at the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} contains a control character")]
    Control { field: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error("unknown entry kind {0:?}")]
    UnknownKind(String),
    #[error("malformed {kind} body: {message}")]
    Malformed { kind: String, message: String },
}

fn text(field: &'static str, v: &str, max: usize, required: bool) -> Result<(), BodyError> {
    if required && v.trim().is_empty() {
        return Err(BodyError::Empty { field });
    }
    if v.chars().count() > max {
        return Err(BodyError::TooLong { field, max });
    }
    if v.chars().any(char::is_control) {
        return Err(BodyError::Control { field });
    }
    Ok(())
}

fn code(field: &'static str, v: &str) -> Result<(), BodyError> {
    text(field, v, CODE_CHARS_MAX, true)
}

fn prose(field: &'static str, v: &str) -> Result<(), BodyError> {
    text(field, v, TEXT_CHARS_MAX, false)
}

/// A child node joins this node's subtree (recorded at the parent).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildRegistered {
    pub code: NodeCode,
    pub name: String,
}

/// A fund category defined by a node in addition to the shipped catalog.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryDefined {
    pub code: String,
    pub name: String,
    pub origin: FundOrigin,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub classified: bool,
}

/// Funds received from outside the tree (the centre), registered by the top node.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundsReceived {
    pub doc_no: String,
    pub category: String,
    pub amount: Amount,
    pub received_on: NaiveDate,
    /// Who sent it, e.g. 财政部.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub title: String,
}

/// A node's own-level budget (本级安排), available to spend or issue down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnBudgetAdded {
    pub doc_no: String,
    pub category: String,
    pub amount: Amount,
    pub budgeted_on: NaiveDate,
    #[serde(default)]
    pub title: String,
}

/// Budget authority carved from what a node holds and issued to one of its
/// children (分配下达).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationIssued {
    pub doc_no: String,
    /// The allocation, own budget or received funds this is carved from.
    pub source: EntryId,
    /// Always the source's category; carried so each entry reads on its own.
    pub category: String,
    pub to: NodeCode,
    pub amount: Amount,
    pub issued_on: NaiveDate,
    #[serde(default)]
    pub title: String,
}

/// Status of a project in the library.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    Planned,
    InProgress,
    Completed,
    Cancelled,
}

impl ProjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Planned => "planned",
            ProjectStatus::InProgress => "in_progress",
            ProjectStatus::Completed => "completed",
            ProjectStatus::Cancelled => "cancelled",
        }
    }
}

/// A project enters the library (项目库).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRegistered {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub township: String,
    #[serde(default)]
    pub village: String,
    #[serde(default)]
    pub department: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub budget: Amount,
    pub status: ProjectStatus,
}

/// A project's status changes (not money: the library row is updated).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectStatusChanged {
    pub project: String,
    pub status: ProjectStatus,
}

/// 一级指标.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetLevel1 {
    /// 产出指标
    Output,
    /// 效益指标
    Effect,
    /// 满意度指标
    Satisfaction,
}

/// 二级指标.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetLevel2 {
    /// 数量指标
    Quantity,
    /// 质量指标
    Quality,
    /// 时效指标
    Timeliness,
    /// 成本指标
    Cost,
    /// 经济效益指标
    Economic,
    /// 社会效益指标
    Social,
    /// 生态效益指标
    Ecological,
    /// 可持续影响指标
    Sustainable,
    /// 服务对象满意度指标
    Beneficiary,
}

impl TargetLevel2 {
    /// The level-1 group this level-2 indicator belongs to (seed 003).
    pub fn level1(self) -> TargetLevel1 {
        use TargetLevel2::*;
        match self {
            Quantity | Quality | Timeliness | Cost => TargetLevel1::Output,
            Economic | Social | Ecological | Sustainable => TargetLevel1::Effect,
            Beneficiary => TargetLevel1::Satisfaction,
        }
    }
}

/// Comparison of an indicator's actual value with its target.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetOp {
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = ">")]
    Above,
    #[serde(rename = "<")]
    Below,
}

impl TargetOp {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetOp::AtLeast => ">=",
            TargetOp::AtMost => "<=",
            TargetOp::Equal => "=",
            TargetOp::Above => ">",
            TargetOp::Below => "<",
        }
    }

    /// Whether `actual` meets a target of `value` under this operator.
    pub fn met(self, actual: Decimal, value: Decimal) -> bool {
        match self {
            TargetOp::AtLeast => actual >= value,
            TargetOp::AtMost => actual <= value,
            TargetOp::Equal => actual == value,
            TargetOp::Above => actual > value,
            TargetOp::Below => actual < value,
        }
    }
}

/// A performance target (绩效目标) of a project: one level-3 indicator.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSet {
    pub project: String,
    pub level1: TargetLevel1,
    pub level2: TargetLevel2,
    /// 三级指标, free text, e.g. 农村道路硬化里程.
    pub indicator: String,
    pub op: TargetOp,
    #[serde(with = "rust_decimal::serde::str")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::decimal_string")
    )]
    pub value: Decimal,
    /// e.g. "%", "元/亩", "公里".
    #[serde(default)]
    pub unit: String,
}

/// An indicator's actual value during or after the year (执行监控 / 自评).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetActualRecorded {
    /// The entry that set the target.
    pub target: EntryId,
    #[serde(with = "rust_decimal::serde::str")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::decimal_string")
    )]
    pub actual: Decimal,
    pub recorded_on: NaiveDate,
    /// What the figure rests on (the supporting material, why it falls
    /// short). Left out of the bytes when empty, so an actual without a note
    /// is encoded, hashed and signed exactly as before the field existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The evidence the figure rests on (佐证材料): a document number or a
    /// file reference, at most [`EVIDENCE_CHARS_MAX`] characters, no control
    /// characters. Since protocol version 6; left out of the bytes when
    /// empty, so an actual without evidence keeps its bytes and hash and is
    /// still accepted by a version 5 node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evidence: String,
}

/// A treasury payment voucher (国库集中支付凭证).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRecorded {
    pub voucher_no: String,
    pub paid_on: NaiveDate,
    pub payer: String,
    pub payee_name: String,
    #[serde(default)]
    pub payee_account: String,
    #[serde(default)]
    pub payee_bank: String,
    pub amount: Amount,
    /// 支出功能分类 code, e.g. 2130505.
    #[serde(default)]
    pub function_class: String,
    pub allocation: EntryId,
    pub project: String,
    #[serde(default)]
    pub purpose: String,
}

/// A payment is reversed in full (a correction: the original stays).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentReversed {
    pub voucher_no: String,
    pub reversed_on: NaiveDate,
    pub reason: String,
}

/// A node's entry-signing key (ed25519), vouched for by the node's parent
/// when the child joins, or by the region for itself. Ancestors verify the
/// node's checkpoints with the keys its parent registered; the registration
/// also travels down to the node itself, which raises an alarm if it is not
/// its own key, so a parent cannot quietly substitute a child's key. Old keys
/// stay registered: history signed with them stays verifiable.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRegistered {
    pub node: NodeCode,
    pub key_id: KeyId,
    /// The 32-byte ed25519 public key, hex.
    pub public_key: String,
}

impl KeyRegistered {
    /// The registration of `key` for `node`.
    pub fn of(node: NodeCode, key: &VerifyingKey) -> KeyRegistered {
        KeyRegistered {
            node,
            key_id: KeyId::of(key),
            public_key: hex::encode(key.as_bytes()),
        }
    }

    /// The key, checked to be a valid ed25519 point whose id is `key_id`.
    pub fn verifying_key(&self) -> Result<VerifyingKey, BodyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&self.public_key, &mut bytes).map_err(|_| {
            BodyError::Invalid("public_key must be 64 hex digits (32 bytes)".into())
        })?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| BodyError::Invalid("public_key is not an ed25519 key".into()))?;
        if KeyId::of(&key) != self.key_id {
            return Err(BodyError::Invalid(format!(
                "key_id {} is not the id of the public key ({})",
                self.key_id,
                KeyId::of(&key)
            )));
        }
        Ok(key)
    }
}

/// A child is cut off (`fundsync revoke`): its certificates issued until now
/// and its connections are refused. Its past entries stay verifiable.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildRevoked {
    pub code: NodeCode,
    #[serde(default)]
    pub reason: String,
}

/// One direction of a link, as the child measures it with its own clock
/// (so the figures hold even when the two nodes' clocks disagree).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDirection {
    /// Last successful exchange, ms since the epoch (the child's clock).
    #[serde(default)]
    pub last_contact_ms: Option<i64>,
    /// Entries the other side does not hold yet.
    pub entries_behind: u64,
    /// How old the oldest of those is, or how long since the link was last
    /// known to be caught up, in seconds.
    pub seconds_behind: u64,
    /// Bytes of entry bodies waiting to cross.
    pub backlog_bytes: u64,
}

/// A node's report on its link to its parent (replication health), so the
/// region sees the health of every link in the tree.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkReported {
    pub parent: NodeCode,
    pub up: LinkDirection,
    pub down: LinkDirection,
    pub consecutive_failures: u32,
    #[serde(default)]
    pub last_error: String,
    /// When this node's TLS certificate expires (ms since the epoch).
    #[serde(default)]
    pub cert_expires_ms: Option<i64>,
    /// The protocol version the parent last answered with.
    #[serde(default)]
    pub peer_version: Option<u16>,
}

/// A node warns (预警) about something it answers for: an allocation it holds
/// beyond the issue deadline, idle funds, a suspicious payment, a child that
/// went silent. Warnings travel up like payments, so every ancestor sees its
/// subtree's warnings; they never travel down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningRaised {
    /// The rule that fired, e.g. `issue_deadline`: lowercase ASCII letters,
    /// digits and `_`. A name rather than an enum, so an ancestor running an
    /// older release still accepts and shows the warnings of a newer rule.
    pub rule: String,
    /// What the warning is about, stable from one evaluation to the next
    /// (e.g. `allocation:652800-17`). With the origin and the rule it names
    /// the warning: the same one is not open twice.
    pub subject: String,
    /// The node the warning is about: the raising node or one of its children.
    pub node: NodeCode,
    /// What is wrong, for people.
    pub message: String,
    /// The business date the rule compared dates with.
    pub as_of: NaiveDate,
    /// The money at stake, if the rule measures one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// Since protocol version 3: what the rule found, as named values
    /// (amounts as decimal strings in yuan, ISO dates, entry ids, codes), so
    /// that readers render the warning in their own language from the rule
    /// and these. `message` then holds the English rendering, for readers
    /// that know no better. Absent in warnings written before (readers parse
    /// what they need back from `message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<WarningParams>,
}

/// The named values of a warning ([`WarningRaised::params`]): keys are
/// lowercase ASCII letters, digits and `_`, values short single-line text.
pub type WarningParams = std::collections::BTreeMap<String, String>;

/// Most values in [`WarningParams`].
pub const WARNING_PARAMS_MAX: usize = 24;

/// A warning raised by the same node no longer holds. The warning stays,
/// marked resolved.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningResolved {
    /// The entry that raised the warning.
    pub warning: EntryId,
    pub reason: String,
    /// The business date the rule compared dates with.
    pub as_of: NaiveDate,
}

/// Where a warning's follow-up (整改) stands.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    /// 待核实: assigned, nothing verified yet.
    Pending,
    /// 整改中: verified, being put right.
    Rectifying,
    /// 已整改: put right.
    Rectified,
    /// 不属实: verified and found not to hold.
    Unfounded,
}

impl FollowUpStatus {
    pub const ALL: [FollowUpStatus; 4] = [
        FollowUpStatus::Pending,
        FollowUpStatus::Rectifying,
        FollowUpStatus::Rectified,
        FollowUpStatus::Unfounded,
    ];

    /// The name written in entries and stored in the ledger's tables.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpStatus::Pending => "pending",
            FollowUpStatus::Rectifying => "rectifying",
            FollowUpStatus::Rectified => "rectified",
            FollowUpStatus::Unfounded => "unfounded",
        }
    }

    /// Whether nothing more is expected of the assignee.
    pub fn is_closed(self) -> bool {
        matches!(self, FollowUpStatus::Rectified | FollowUpStatus::Unfounded)
    }
}

impl std::str::FromStr for FollowUpStatus {
    type Err = BodyError;
    fn from_str(s: &str) -> Result<Self, BodyError> {
        FollowUpStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| BodyError::Invalid(format!("unknown follow-up status {s:?}")))
    }
}

/// Longest a follow-up's deadline may lie after the day it is assigned.
pub const FOLLOW_UP_DAYS_MAX: u64 = 366;

/// A warning the same node raised is assigned to a person with a deadline
/// (整改: 点对点到人, 限期). Assigning again replaces the assignee and the
/// deadline. Rolls up like payments; never travels down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpAssigned {
    /// The entry that raised the warning.
    pub warning: EntryId,
    /// The assignee's login at this node.
    pub assignee: String,
    /// The assignee's name, for readers at other nodes.
    #[serde(default)]
    pub assignee_name: String,
    /// The assignee's desk (a role name), whose officers may answer too.
    #[serde(default)]
    pub desk: String,
    pub deadline: NaiveDate,
    /// The business day of the assignment; the deadline is not before it.
    pub assigned_on: NaiveDate,
    #[serde(default)]
    pub note: String,
}

/// The assignee's answer to a follow-up: what was verified (核实情况), what
/// was done (整改措施), and where it stands. Rolls up like payments.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpRecorded {
    /// The entry that raised the warning.
    pub warning: EntryId,
    pub status: FollowUpStatus,
    /// 核实情况.
    #[serde(default)]
    pub verification: String,
    /// 整改措施.
    #[serde(default)]
    pub rectification: String,
    pub recorded_on: NaiveDate,
}

/// What happened, in a [`SecurityEvent`]. Closed: a new event is a new
/// protocol version, as a new kind is.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityEventKind {
    LoginSucceeded,
    LoginFailed,
    AccountLocked,
    LoggedOut,
    TokenCreated,
    TokenRevoked,
    UserCreated,
    UserDisabled,
    UserEnabled,
    PasswordReset,
    PasswordChanged,
    RoleGranted,
    RoleRevoked,
    PermissionDenied,
}

impl SecurityEventKind {
    pub const ALL: [SecurityEventKind; 14] = [
        SecurityEventKind::LoginSucceeded,
        SecurityEventKind::LoginFailed,
        SecurityEventKind::AccountLocked,
        SecurityEventKind::LoggedOut,
        SecurityEventKind::TokenCreated,
        SecurityEventKind::TokenRevoked,
        SecurityEventKind::UserCreated,
        SecurityEventKind::UserDisabled,
        SecurityEventKind::UserEnabled,
        SecurityEventKind::PasswordReset,
        SecurityEventKind::PasswordChanged,
        SecurityEventKind::RoleGranted,
        SecurityEventKind::RoleRevoked,
        SecurityEventKind::PermissionDenied,
    ];

    /// The name written in entries and stored in the `security_log` table.
    pub fn as_str(self) -> &'static str {
        use SecurityEventKind::*;
        match self {
            LoginSucceeded => "login_succeeded",
            LoginFailed => "login_failed",
            AccountLocked => "account_locked",
            LoggedOut => "logged_out",
            TokenCreated => "token_created",
            TokenRevoked => "token_revoked",
            UserCreated => "user_created",
            UserDisabled => "user_disabled",
            UserEnabled => "user_enabled",
            PasswordReset => "password_reset",
            PasswordChanged => "password_changed",
            RoleGranted => "role_granted",
            RoleRevoked => "role_revoked",
            PermissionDenied => "permission_denied",
        }
    }

    /// Whether it belongs to the login log (登录日志): signing in and out
    /// and what refuses it. Everything else is the operations log (操作日志).
    pub fn is_login(self) -> bool {
        use SecurityEventKind::*;
        matches!(
            self,
            LoginSucceeded | LoginFailed | AccountLocked | LoggedOut
        )
    }
}

impl std::str::FromStr for SecurityEventKind {
    type Err = BodyError;
    fn from_str(s: &str) -> Result<Self, BodyError> {
        SecurityEventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| BodyError::Invalid(format!("unknown security event {s:?}")))
    }
}

/// Something that matters for the security of a node's accounts: a login,
/// a refusal, an account or role changed (安全日志). Recorded as entries so
/// that the log rolls up to every ancestor with the actor who caused it,
/// signed like the money; it never travels down. Never holds a secret (no
/// password, no token): only who, what, about whom.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityEvent {
    pub event: SecurityEventKind,
    /// The login the event is about (the user created, the account that
    /// failed to sign in); may be empty.
    #[serde(default)]
    pub subject: String,
    /// A short note for people, e.g. the role granted or the route refused.
    #[serde(default)]
    pub detail: String,
}

/// What a publication (公告公示) makes public.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicationScope {
    /// 资金分配结果: allocations the node issued to its children.
    Allocations,
    /// 项目安排和资金使用: projects of the node's library, with their funds
    /// and progress as of the publication.
    Projects,
}

impl PublicationScope {
    pub const ALL: [PublicationScope; 2] =
        [PublicationScope::Allocations, PublicationScope::Projects];

    /// The name written in entries and stored in the ledger's tables.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicationScope::Allocations => "allocations",
            PublicationScope::Projects => "projects",
        }
    }
}

impl std::str::FromStr for PublicationScope {
    type Err = BodyError;
    fn from_str(s: &str) -> Result<Self, BodyError> {
        PublicationScope::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| BodyError::Invalid(format!("unknown publication scope {s:?}")))
    }
}

/// Most records one publication names.
pub const PUBLISHED_RECORDS_MAX: usize = 1000;

/// A node makes results public (公告公示, seed 000 五(五) "两个一律"): the
/// allocations it issued, or projects of its library with their funds and
/// progress, named one by one by the entry that created each, so what was
/// public, and from when, is provable from the journal. Only the node's own
/// records (an allocation it issued, a project it registered), never one of
/// a classified (涉密) category. With the origin, `doc_no` is the natural
/// key: the same notice again is a retry. Rolls up like payments, so every
/// ancestor holds its subtree's 公示台账; never travels down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsPublished {
    /// The notice's 文号, e.g. 巴财公〔2020〕3号.
    pub doc_no: String,
    pub title: String,
    pub scope: PublicationScope,
    /// The business day it is published (公示日期).
    pub published_on: NaiveDate,
    /// The records made public: allocation or project entry ids, each once.
    pub records: Vec<EntryId>,
}

/// Why money is left on an allocation (结转结余的原因, seed 002 四).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarryOverReason {
    /// 质量保证金: retained from a finished project until its warranty ends.
    QualityGuarantee,
    /// 工程尾款: the final payment of a project, not yet due or not yet paid.
    FinalPayment,
    /// 收款账号错误: a payment that bounced on a wrong payee account.
    WrongAccount,
    /// 其他: said in the note.
    Other,
}

impl CarryOverReason {
    pub const ALL: [CarryOverReason; 4] = [
        CarryOverReason::QualityGuarantee,
        CarryOverReason::FinalPayment,
        CarryOverReason::WrongAccount,
        CarryOverReason::Other,
    ];

    /// The name written in entries and stored in the ledger's tables.
    pub fn as_str(self) -> &'static str {
        match self {
            CarryOverReason::QualityGuarantee => "quality_guarantee",
            CarryOverReason::FinalPayment => "final_payment",
            CarryOverReason::WrongAccount => "wrong_account",
            CarryOverReason::Other => "other",
        }
    }

    /// The name the bureaus use (seed 002).
    pub fn zh(self) -> &'static str {
        match self {
            CarryOverReason::QualityGuarantee => "质量保证金",
            CarryOverReason::FinalPayment => "工程尾款",
            CarryOverReason::WrongAccount => "收款账号错误",
            CarryOverReason::Other => "其他",
        }
    }
}

impl std::str::FromStr for CarryOverReason {
    type Err = BodyError;
    fn from_str(s: &str) -> Result<Self, BodyError> {
        CarryOverReason::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| BodyError::Invalid(format!("unknown carry-over reason {s:?}")))
    }
}

/// A node says why part of the unspent balance of an allocation it holds,
/// as of a date, is carried over (结转结余: 质量保证金, 工程尾款, 收款账号错误,
/// other), for which project, and when it is to be paid. Money does not
/// move: the entry explains a balance, which the ledger checks it does not
/// exceed. The same allocation, date, reason and project again replaces the
/// figure (a correction); the same fields again are a retry. Rolls up like
/// payments; never travels down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarryOverExplained {
    /// The allocation the balance is left on, held by the recording node.
    pub allocation: EntryId,
    /// The day the balance is taken (截至), e.g. 2020-09-25.
    pub as_of: NaiveDate,
    pub reason: CarryOverReason,
    /// The part of the balance this reason explains.
    pub amount: Amount,
    /// When it is planned to be paid (计划支付日期); not before `as_of`.
    pub planned_on: NaiveDate,
    /// The project of the node's library it is kept for; empty: none named.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// What "other" is, or more about it; required for [`CarryOverReason::Other`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// What returned funds are for.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecallPurpose {
    /// 收回: the parent takes the funds back (seed 003 §17).
    Recall,
    /// 统筹: the parent pools balances to arrange them anew.
    Pooling,
}

impl RecallPurpose {
    pub const ALL: [RecallPurpose; 2] = [RecallPurpose::Recall, RecallPurpose::Pooling];

    pub fn as_str(self) -> &'static str {
        match self {
            RecallPurpose::Recall => "recall",
            RecallPurpose::Pooling => "pooling",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            RecallPurpose::Recall => "收回",
            RecallPurpose::Pooling => "统筹",
        }
    }
}

impl std::str::FromStr for RecallPurpose {
    type Err = BodyError;
    fn from_str(s: &str) -> Result<Self, BodyError> {
        RecallPurpose::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| BodyError::Invalid(format!("unknown recall purpose {s:?}")))
    }
}

/// Unspent funds of an allocation go back to the node that issued it (收回,
/// or 统筹 to be arranged anew), recorded by the holder: the only node that
/// pays from the allocation, so the only one whose check of the unspent
/// balance cannot race a payment still on its way up. The allocation's
/// balance shrinks by `amount` and, where the entry arrives (it rolls up
/// like payments), the issuer's source allocation has exactly that much
/// more to issue or spend. Never travels down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundsRecalled {
    /// The allocation issued to the recording node by its parent.
    pub allocation: EntryId,
    /// The document ordering it (收回文号), unique per allocation.
    pub doc_no: String,
    pub amount: Amount,
    pub recalled_on: NaiveDate,
    pub purpose: RecallPurpose,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Most submissions one review or approval names.
pub const TARGET_SUBMISSIONS_MAX: usize = 200;

/// An adjustment (调整) of a performance target, or the revision of one
/// returned by review: a new submission of the target (seed 003 第九条).
/// It goes through review and approval like the first; until approved, the
/// target keeps its value (an approved one stays in force). Rolled up like
/// payments, never sent down (protocol version 5).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetAdjusted {
    /// The `target_set` entry of the target.
    pub target: EntryId,
    pub op: TargetOp,
    #[serde(with = "rust_decimal::serde::str")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::decimal_string")
    )]
    pub value: Decimal,
    /// Why (调整理由), required.
    pub reason: String,
    pub adjusted_on: NaiveDate,
}

/// The finance bureau's review (审核) of submitted targets of one project:
/// necessity (必要性), relevance (相关性) and fit to the money (匹配性),
/// each passed or not (seed 003 第八条). All three passed: the submissions
/// are reviewed and may be approved; otherwise they are returned with the
/// reasons. Rolled up like payments, never sent down (protocol version 5).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsReviewed {
    pub project: String,
    /// The submissions reviewed: `target_set` (a target's first) or
    /// `target_adjusted` entries, each awaiting review.
    pub submissions: Vec<EntryId>,
    pub reviewed_on: NaiveDate,
    pub necessity: bool,
    pub relevance: bool,
    pub fit: bool,
    /// The reasons (审核意见); required when returned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reasons: String,
}

impl TargetsReviewed {
    /// Whether the review passed: all three criteria met.
    pub fn passed(&self) -> bool {
        self.necessity && self.relevance && self.fit
    }
}

/// The approval (批复) of reviewed targets of one project, with the
/// document's number (文号) and date (seed 003 第九条: "谁批复预算，谁批复
/// 目标"). Approved targets are filed upward (备案): rolled up like
/// payments, never sent down (protocol version 5).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsApproved {
    pub project: String,
    /// The submissions approved, each reviewed and passed.
    pub submissions: Vec<EntryId>,
    pub doc_no: String,
    pub approved_on: NaiveDate,
}

/// Most indicators in one self-evaluation, evaluations in one compiled
/// report or spot check, reports one report compiles.
pub const EVALUATION_ITEMS_MAX: usize = 1000;

/// One indicator of a project's year-end self-evaluation (绩效自评): the
/// target it answers (the entry that set it) and what the officer found.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorEvaluation {
    /// The entry that set the target, of the evaluated project.
    pub target: EntryId,
    /// 实际完成值: the indicator's value at the year's end.
    #[serde(with = "rust_decimal::serde::str")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::decimal_string")
    )]
    pub actual: Decimal,
    /// 完成率 in percent, the officer's figure (0–1000).
    #[serde(with = "rust_decimal::serde::str")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::decimal_string")
    )]
    pub completion: Decimal,
}

/// A project's year-end self-evaluation (绩效自评, seed 003 §13), recorded
/// by the node owning the project: completion per indicator, the reasons
/// for what fell short (未完成原因) and the measures to come (改进措施). One
/// per project and year. Rolls up like payments; never travels down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfEvaluationRecorded {
    /// The project's code in the recording node's library.
    pub project: String,
    /// The budget year evaluated.
    pub year: i32,
    pub indicators: Vec<IndicatorEvaluation>,
    /// 未完成原因: required when an indicator falls short (the ledger checks).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub shortfall: String,
    /// 下一步改进措施.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub measures: String,
    /// The day of the evaluation; not before the year begins.
    pub evaluated_on: NaiveDate,
}

impl SelfEvaluationRecorded {
    /// January 1st of the year evaluated (the date rules check it).
    pub fn year_start(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, 1, 1)
    }
}

/// Whose self-evaluation report a compiled report is.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportScope {
    /// A department's (部门) report: its own projects' evaluations.
    Department,
    /// The node's (本级: county, prefecture, region) report, compiling its
    /// departments' reports and its children's node reports.
    Node,
}

impl ReportScope {
    pub const ALL: [ReportScope; 2] = [ReportScope::Department, ReportScope::Node];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportScope::Department => "department",
            ReportScope::Node => "node",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            ReportScope::Department => "部门自评报告",
            ReportScope::Node => "本级自评报告",
        }
    }
}

impl std::str::FromStr for ReportScope {
    type Err = BodyError;
    fn from_str(s: &str) -> Result<Self, BodyError> {
        ReportScope::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| BodyError::Invalid(format!("unknown report scope {s:?}")))
    }
}

/// A compiled self-evaluation report (绩效自评报告) for a year: a department's,
/// or the node's, compiling the evaluations below it, rolled up level by
/// level to the region (seed 003 §14). Its figures are the document's own,
/// checked against the ledger where it is compiled and copied where it
/// arrives. Rolls up like payments; never travels down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationReportCompiled {
    pub year: i32,
    pub scope: ReportScope,
    /// The department, for a department's report; empty for the node's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub department: String,
    /// Every self-evaluation the report covers, by entry id.
    pub evaluations: Vec<EntryId>,
    /// The compiled reports it builds on (a node's: its departments' and
    /// its children's), by entry id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<EntryId>,
    /// Indicators evaluated, and of them met, over `evaluations`.
    pub indicators: u32,
    pub met: u32,
    /// The evaluated projects' funds (项目资金), in yuan.
    #[serde(with = "rust_decimal::serde::str")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::decimal_string")
    )]
    pub funds: Decimal,
    pub summary: String,
    pub compiled_on: NaiveDate,
}

/// How a spot check's sample was chosen.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleMethod {
    /// 随机抽取, from `seed` (the draw can be repeated).
    Random,
    /// 指定抽取: chosen by the checker.
    Chosen,
}

impl SampleMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SampleMethod::Random => "random",
            SampleMethod::Chosen => "chosen",
        }
    }
}

/// A spot check (抽查, seed 003 §14) of the subtree's self-evaluations for a
/// year, at the region or any ancestor: the sample drawn. Rolls up like
/// payments; never travels down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotCheckRecorded {
    pub year: i32,
    pub title: String,
    pub method: SampleMethod,
    /// The random draw's seed (for `random`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The sampled self-evaluations, by entry id.
    pub sample: Vec<EntryId>,
    pub checked_on: NaiveDate,
}

/// What a spot check found of one sampled evaluation.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingVerdict {
    /// 符合.
    Conforming,
    /// 不符合: a rectification (整改) may follow.
    NonConforming,
}

impl FindingVerdict {
    pub const ALL: [FindingVerdict; 2] =
        [FindingVerdict::Conforming, FindingVerdict::NonConforming];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingVerdict::Conforming => "conforming",
            FindingVerdict::NonConforming => "non_conforming",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            FindingVerdict::Conforming => "符合",
            FindingVerdict::NonConforming => "不符合",
        }
    }
}

impl std::str::FromStr for FindingVerdict {
    type Err = BodyError;
    fn from_str(s: &str) -> Result<Self, BodyError> {
        FindingVerdict::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| BodyError::Invalid(format!("unknown verdict {s:?}")))
    }
}

/// A finding of a spot check about one evaluation of its sample (符合 /
/// 不符合, with notes). A 不符合 finding is followed up (整改) with the
/// warnings' `follow_up_assigned` / `follow_up_recorded`, naming the
/// finding's entry where they name a warning's. Rolls up like payments.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotCheckFinding {
    /// The spot check, of the recording node.
    pub spot_check: EntryId,
    /// The evaluation, of the spot check's sample.
    pub evaluation: EntryId,
    pub verdict: FindingVerdict,
    /// Required for 不符合.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    pub found_on: NaiveDate,
}

/// Every kind of journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    ChildRegistered(ChildRegistered),
    CategoryDefined(CategoryDefined),
    FundsReceived(FundsReceived),
    OwnBudgetAdded(OwnBudgetAdded),
    AllocationIssued(AllocationIssued),
    ProjectRegistered(ProjectRegistered),
    ProjectStatusChanged(ProjectStatusChanged),
    TargetSet(TargetSet),
    TargetActualRecorded(TargetActualRecorded),
    PaymentRecorded(PaymentRecorded),
    PaymentReversed(PaymentReversed),
    KeyRegistered(KeyRegistered),
    ChildRevoked(ChildRevoked),
    LinkReported(LinkReported),
    WarningRaised(WarningRaised),
    WarningResolved(WarningResolved),
    SecurityEvent(SecurityEvent),
    FollowUpAssigned(FollowUpAssigned),
    FollowUpRecorded(FollowUpRecorded),
    ResultsPublished(ResultsPublished),
    CarryOverExplained(CarryOverExplained),
    FundsRecalled(FundsRecalled),
    TargetAdjusted(TargetAdjusted),
    TargetsReviewed(TargetsReviewed),
    TargetsApproved(TargetsApproved),
    SelfEvaluationRecorded(SelfEvaluationRecorded),
    EvaluationReportCompiled(EvaluationReportCompiled),
    SpotCheckRecorded(SpotCheckRecorded),
    SpotCheckFinding(SpotCheckFinding),
}

macro_rules! kinds {
    ($($variant:ident => $kind:literal),+ $(,)?) => {
        impl Body {
            /// Every kind name, as written in entries.
            pub const KINDS: &'static [&'static str] = &[$($kind),+];

            /// The kind name written in the entry envelope.
            pub fn kind(&self) -> &'static str {
                match self { $(Body::$variant(_) => $kind),+ }
            }

            /// The exact bytes stored, hashed and replicated: the body
            /// attributed to `actor` (see the module's docs).
            pub fn encode(&self, actor: &Actor) -> Vec<u8> {
                // Serialising these plain structs to a Vec cannot fail.
                let r = match self { $(Body::$variant(b) => envelope(actor, b)),+ };
                r.unwrap_or_default()
            }

            /// Decodes bytes received for `kind`, refusing unknown kinds and
            /// fields, with the actor they name (`None` for a body written
            /// before actors existed).
            pub fn decode(kind: &str, bytes: &[u8]) -> Result<(Self, Option<Actor>), BodyError> {
                let malformed = |e: serde_json::Error| BodyError::Malformed {
                    kind: kind.to_owned(),
                    message: e.to_string(),
                };
                let (body, actor) = match kind {
                    $($kind => {
                        let (b, a) = parse(bytes).map_err(malformed)?;
                        (Body::$variant(b), a)
                    })+
                    other => return Err(BodyError::UnknownKind(other.to_owned())),
                };
                body.validate()?;
                if let Some(a) = &actor {
                    validate_actor(a)?;
                }
                Ok((body, actor))
            }
        }
    };
}

kinds! {
    ChildRegistered => "child_registered",
    CategoryDefined => "category_defined",
    FundsReceived => "funds_received",
    OwnBudgetAdded => "own_budget_added",
    AllocationIssued => "allocation_issued",
    ProjectRegistered => "project_registered",
    ProjectStatusChanged => "project_status_changed",
    TargetSet => "target_set",
    TargetActualRecorded => "target_actual_recorded",
    PaymentRecorded => "payment_recorded",
    PaymentReversed => "payment_reversed",
    KeyRegistered => "key_registered",
    ChildRevoked => "child_revoked",
    LinkReported => "link_reported",
    WarningRaised => "warning_raised",
    WarningResolved => "warning_resolved",
    SecurityEvent => "security_event",
    FollowUpAssigned => "follow_up_assigned",
    FollowUpRecorded => "follow_up_recorded",
    ResultsPublished => "results_published",
    CarryOverExplained => "carry_over_explained",
    FundsRecalled => "funds_recalled",
    TargetAdjusted => "target_adjusted",
    TargetsReviewed => "targets_reviewed",
    TargetsApproved => "targets_approved",
    SelfEvaluationRecorded => "self_evaluation_recorded",
    EvaluationReportCompiled => "evaluation_report_compiled",
    SpotCheckRecorded => "spot_check_recorded",
    SpotCheckFinding => "spot_check_finding",
}

impl Body {
    /// Stateless checks: text limits and shapes.
    pub fn validate(&self) -> Result<(), BodyError> {
        match self {
            Body::ChildRegistered(b) => text("name", &b.name, CODE_CHARS_MAX * 2, true),
            Body::CategoryDefined(b) => {
                code("code", &b.code)?;
                text("name", &b.name, TEXT_CHARS_MAX, true)?;
                prose("department", &b.department)
            }
            Body::FundsReceived(b) => {
                code("doc_no", &b.doc_no)?;
                code("category", &b.category)?;
                prose("source", &b.source)?;
                prose("title", &b.title)
            }
            Body::OwnBudgetAdded(b) => {
                code("doc_no", &b.doc_no)?;
                code("category", &b.category)?;
                prose("title", &b.title)
            }
            Body::AllocationIssued(b) => {
                code("doc_no", &b.doc_no)?;
                code("category", &b.category)?;
                prose("title", &b.title)
            }
            Body::ProjectRegistered(b) => {
                code("code", &b.code)?;
                text("name", &b.name, TEXT_CHARS_MAX, true)?;
                prose("township", &b.township)?;
                prose("village", &b.village)?;
                prose("department", &b.department)?;
                if b.ends_on < b.starts_on {
                    return Err(BodyError::Invalid(format!(
                        "project ends ({}) before it starts ({})",
                        b.ends_on, b.starts_on
                    )));
                }
                Ok(())
            }
            Body::ProjectStatusChanged(b) => code("project", &b.project),
            Body::TargetSet(b) => {
                code("project", &b.project)?;
                text("indicator", &b.indicator, TEXT_CHARS_MAX, true)?;
                code("unit", &b.unit).or_else(|e| match e {
                    BodyError::Empty { .. } => Ok(()),
                    e => Err(e),
                })?;
                if b.level2.level1() != b.level1 {
                    return Err(BodyError::Invalid(format!(
                        "level-2 indicator {:?} does not belong under level-1 {:?}",
                        b.level2, b.level1
                    )));
                }
                Ok(())
            }
            Body::TargetActualRecorded(b) => {
                prose("note", &b.note)?;
                text("evidence", &b.evidence, EVIDENCE_CHARS_MAX, false)
            }
            Body::PaymentRecorded(b) => {
                code("voucher_no", &b.voucher_no)?;
                text("payer", &b.payer, TEXT_CHARS_MAX, true)?;
                text("payee_name", &b.payee_name, TEXT_CHARS_MAX, true)?;
                code("payee_account", &b.payee_account).or_else(empty_ok)?;
                prose("payee_bank", &b.payee_bank)?;
                code("function_class", &b.function_class).or_else(empty_ok)?;
                code("project", &b.project)?;
                prose("purpose", &b.purpose)
            }
            Body::PaymentReversed(b) => {
                code("voucher_no", &b.voucher_no)?;
                text("reason", &b.reason, TEXT_CHARS_MAX, true)
            }
            Body::KeyRegistered(b) => b.verifying_key().map(|_| ()),
            Body::ChildRevoked(b) => prose("reason", &b.reason),
            Body::LinkReported(b) => prose("last_error", &b.last_error),
            Body::WarningRaised(b) => {
                code("rule", &b.rule)?;
                if !b
                    .rule
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
                {
                    return Err(BodyError::Invalid(format!(
                        "rule {:?} may hold only lowercase ASCII letters, digits and _",
                        b.rule
                    )));
                }
                text("subject", &b.subject, TEXT_CHARS_MAX, true)?;
                text("message", &b.message, TEXT_CHARS_MAX, true)?;
                match &b.params {
                    Some(p) => warning_params(p),
                    None => Ok(()),
                }
            }
            Body::WarningResolved(b) => text("reason", &b.reason, TEXT_CHARS_MAX, true),
            Body::SecurityEvent(b) => {
                text("subject", &b.subject, CODE_CHARS_MAX, false)?;
                prose("detail", &b.detail)
            }
            Body::FollowUpAssigned(b) => {
                code("assignee", &b.assignee)?;
                prose("assignee_name", &b.assignee_name)?;
                code("desk", &b.desk).or_else(empty_ok)?;
                prose("note", &b.note)?;
                if b.deadline < b.assigned_on {
                    return Err(BodyError::Invalid(format!(
                        "deadline {} is before the day it is assigned ({})",
                        b.deadline, b.assigned_on
                    )));
                }
                let latest = b
                    .assigned_on
                    .checked_add_days(chrono::Days::new(FOLLOW_UP_DAYS_MAX));
                if latest.is_none_or(|l| b.deadline > l) {
                    return Err(BodyError::Invalid(format!(
                        "deadline {} is more than {FOLLOW_UP_DAYS_MAX} days after {}",
                        b.deadline, b.assigned_on
                    )));
                }
                Ok(())
            }
            Body::FollowUpRecorded(b) => {
                prose("verification", &b.verification)?;
                prose("rectification", &b.rectification)?;
                match b.status {
                    FollowUpStatus::Rectified => {
                        text("rectification", &b.rectification, TEXT_CHARS_MAX, true)
                    }
                    FollowUpStatus::Unfounded | FollowUpStatus::Rectifying => {
                        text("verification", &b.verification, TEXT_CHARS_MAX, true)
                    }
                    FollowUpStatus::Pending => Ok(()),
                }
            }
            Body::ResultsPublished(b) => {
                code("doc_no", &b.doc_no)?;
                text("title", &b.title, TEXT_CHARS_MAX, true)?;
                if b.records.is_empty() {
                    return Err(BodyError::Empty { field: "records" });
                }
                if b.records.len() > PUBLISHED_RECORDS_MAX {
                    return Err(BodyError::Invalid(format!(
                        "a publication names at most {PUBLISHED_RECORDS_MAX} records, not {}",
                        b.records.len()
                    )));
                }
                let mut seen = std::collections::BTreeSet::new();
                if let Some(twice) = b.records.iter().find(|r| !seen.insert(**r)) {
                    return Err(BodyError::Invalid(format!(
                        "record {twice} is named twice in one publication"
                    )));
                }
                Ok(())
            }
            Body::CarryOverExplained(b) => {
                code("project", &b.project).or_else(empty_ok)?;
                let required = b.reason == CarryOverReason::Other;
                text("note", &b.note, TEXT_CHARS_MAX, required)
            }
            Body::FundsRecalled(b) => {
                code("doc_no", &b.doc_no)?;
                prose("reason", &b.reason)
            }
            Body::TargetAdjusted(b) => text("reason", &b.reason, TEXT_CHARS_MAX, true),
            Body::TargetsReviewed(b) => {
                code("project", &b.project)?;
                submissions(&b.submissions)?;
                text("reasons", &b.reasons, TEXT_CHARS_MAX, !b.passed())
            }
            Body::TargetsApproved(b) => {
                code("project", &b.project)?;
                code("doc_no", &b.doc_no)?;
                submissions(&b.submissions)
            }
            Body::SelfEvaluationRecorded(b) => {
                code("project", &b.project)?;
                prose("shortfall", &b.shortfall)?;
                prose("measures", &b.measures)?;
                let Some(start) = b.year_start() else {
                    return Err(BodyError::Invalid(format!("no year {}", b.year)));
                };
                if b.evaluated_on < start {
                    return Err(BodyError::Invalid(format!(
                        "a self-evaluation of {} is dated {}, before the year begins",
                        b.year, b.evaluated_on
                    )));
                }
                items("indicators", b.indicators.iter().map(|i| i.target))?;
                let most = Decimal::from(1000);
                if let Some(i) = b
                    .indicators
                    .iter()
                    .find(|i| i.completion.is_sign_negative() || i.completion > most)
                {
                    return Err(BodyError::Invalid(format!(
                        "completion {} of target {} is not a percentage from 0 to 1000",
                        i.completion, i.target
                    )));
                }
                Ok(())
            }
            Body::EvaluationReportCompiled(b) => {
                text("summary", &b.summary, TEXT_CHARS_MAX * 4, true)?;
                match b.scope {
                    ReportScope::Department => code("department", &b.department)?,
                    ReportScope::Node if !b.department.is_empty() => {
                        return Err(BodyError::Invalid(
                            "a node's report names no department".into(),
                        ))
                    }
                    ReportScope::Node => {}
                }
                let whole_fen = b
                    .funds
                    .checked_mul(Decimal::from(100))
                    .is_some_and(|f| f.fract().is_zero() && f < Decimal::from(i64::MAX));
                if b.funds.is_sign_negative() || !whole_fen {
                    return Err(BodyError::Invalid(format!(
                        "funds {} is not an amount of yuan from 0 with at most two decimals",
                        b.funds
                    )));
                }
                if b.met > b.indicators {
                    return Err(BodyError::Invalid(format!(
                        "{} indicators met of {}",
                        b.met, b.indicators
                    )));
                }
                if !b.evaluations.is_empty() {
                    items("evaluations", b.evaluations.iter().copied())?;
                }
                if !b.reports.is_empty() {
                    items("reports", b.reports.iter().copied())?;
                }
                Ok(())
            }
            Body::SpotCheckRecorded(b) => {
                text("title", &b.title, TEXT_CHARS_MAX, true)?;
                items("sample", b.sample.iter().copied())?;
                if (b.method == SampleMethod::Random) != b.seed.is_some() {
                    return Err(BodyError::Invalid(
                        "a random sample names its seed, a chosen one none".into(),
                    ));
                }
                Ok(())
            }
            Body::SpotCheckFinding(b) => {
                let required = b.verdict == FindingVerdict::NonConforming;
                text("notes", &b.notes, TEXT_CHARS_MAX, required)
            }
        }
    }

    /// The child an entry of its origin is sent down to, if any: an
    /// allocation goes to the child it is issued to, a key registration to
    /// the node whose key it is. Everything else travels only upward.
    pub fn down_to(&self, origin: NodeCode) -> Option<NodeCode> {
        match self {
            Body::AllocationIssued(b) => Some(b.to),
            Body::KeyRegistered(b) if b.node != origin => Some(b.node),
            _ => None,
        }
    }
}

/// A list of entry ids: not empty, at most [`EVALUATION_ITEMS_MAX`], none
/// twice.
fn items(field: &'static str, ids: impl Iterator<Item = EntryId>) -> Result<(), BodyError> {
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(BodyError::Invalid(format!("{field}: {id} is named twice")));
        }
        if seen.len() > EVALUATION_ITEMS_MAX {
            return Err(BodyError::Invalid(format!(
                "{field}: at most {EVALUATION_ITEMS_MAX}"
            )));
        }
    }
    if seen.is_empty() {
        return Err(BodyError::Empty { field });
    }
    Ok(())
}

/// How the bytes of a body that names its actor begin. Bytes that begin
/// otherwise are a body written before actors existed (the kind's bare struct).
pub const ENVELOPE_PREFIX: &[u8] = br#"{"actor":"#;

/// A body with the actor who caused it: the bytes of every entry written
/// since protocol version 2. Generic over the actor so that encoding borrows
/// (`Attributed<&Actor, &T>`) and decoding owns (`Attributed<Actor, T>`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Attributed<A, T> {
    actor: A,
    body: T,
}

/// Parses the kind's struct from bytes in either form, in one pass.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, Option<Actor>), serde_json::Error> {
    if bytes.starts_with(ENVELOPE_PREFIX) {
        let a: Attributed<Actor, T> = serde_json::from_slice(bytes)?;
        Ok((a.body, Some(a.actor)))
    } else {
        Ok((serde_json::from_slice(bytes)?, None))
    }
}

/// The bytes of `body` attributed to `actor`.
fn envelope<T: Serialize>(actor: &Actor, body: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Attributed { actor, body })
}

/// Who caused the entry whose body bytes these are, for readers that want
/// the actor only (lists, the trace): parses the actor and skips the rest.
/// `None` for a body written before actors existed, or bytes that are not a
/// well-formed envelope (stored bytes were verified when they arrived).
pub fn actor_of(bytes: &[u8]) -> Option<Actor> {
    if !bytes.starts_with(ENVELOPE_PREFIX) {
        return None;
    }
    serde_json::from_slice::<Attributed<Actor, IgnoredAny>>(bytes)
        .ok()
        .map(|a| a.actor)
}

/// The kind's own bytes inside `bytes`: the inner body of an envelope as
/// [`Body::encode`] writes it (compact), or all of a body without an actor.
/// Two submissions of the same thing by different people differ in their
/// actor only, and this is what they have in common.
pub fn inner_bytes(bytes: &[u8]) -> &[u8] {
    let Some(rest) = bytes.strip_prefix(ENVELOPE_PREFIX) else {
        return bytes;
    };
    // The actor is skipped, not read; the stream says where it ended.
    let mut actor = serde_json::Deserializer::from_slice(rest).into_iter::<IgnoredAny>();
    if !matches!(actor.next(), Some(Ok(_))) {
        return bytes;
    }
    rest.get(actor.byte_offset()..)
        .and_then(|r| r.strip_prefix(br#","body":"#))
        .and_then(|r| r.strip_suffix(b"}"))
        .unwrap_or(bytes)
}

/// Stateless checks of an actor: the limits of the fields of a body.
pub fn validate_actor(a: &Actor) -> Result<(), BodyError> {
    code("actor.login", &a.login)?;
    text("actor.name", &a.name, TEXT_CHARS_MAX, false)?;
    code("actor.role", &a.role)?;
    text("actor.addr", &a.addr, CODE_CHARS_MAX, false)
}

/// Stateless checks of a warning's named values.
fn warning_params(p: &WarningParams) -> Result<(), BodyError> {
    if p.len() > WARNING_PARAMS_MAX {
        return Err(BodyError::Invalid(format!(
            "a warning has at most {WARNING_PARAMS_MAX} params, not {}",
            p.len()
        )));
    }
    for (k, v) in p {
        code("params key", k)?;
        if !k
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        {
            return Err(BodyError::Invalid(format!(
                "params key {k:?} may hold only lowercase ASCII letters, digits and _"
            )));
        }
        prose("params value", v)?;
    }
    Ok(())
}

/// The submissions a review or approval names: at least one, at most
/// [`TARGET_SUBMISSIONS_MAX`], none twice.
fn submissions(ids: &[EntryId]) -> Result<(), BodyError> {
    if ids.is_empty() {
        return Err(BodyError::Empty {
            field: "submissions",
        });
    }
    if ids.len() > TARGET_SUBMISSIONS_MAX {
        return Err(BodyError::Invalid(format!(
            "a review or approval names at most {TARGET_SUBMISSIONS_MAX} submissions, not {}",
            ids.len()
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = ids.iter().find(|r| !seen.insert(**r)) {
        return Err(BodyError::Invalid(format!(
            "submission {twice} is named twice"
        )));
    }
    Ok(())
}

fn empty_ok(e: BodyError) -> Result<(), BodyError> {
    match e {
        BodyError::Empty { .. } => Ok(()),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment() -> Body {
        Body::PaymentRecorded(PaymentRecorded {
            voucher_no: "V0001".into(),
            paid_on: NaiveDate::from_ymd_opt(2020, 5, 1).unwrap_or_default(),
            payer: "轮台县财政局".into(),
            payee_name: "某某合作社".into(),
            payee_account: "6222000011112222".into(),
            payee_bank: "农业银行轮台支行".into(),
            amount: "1500.00".parse().unwrap_or_else(|_| unreachable!()),
            function_class: "2130505".into(),
            allocation: "652800-3".parse().unwrap_or_else(|_| unreachable!()),
            project: "LT2020-001".into(),
            purpose: "道路硬化".into(),
        })
    }

    fn clerk() -> Actor {
        Actor {
            login: "zhangsan".into(),
            name: "张三".into(),
            role: "treasury".into(),
            addr: "10.1.2.3".into(),
        }
    }

    /// The bytes of a payment as written before actors existed: the bare
    /// struct.
    fn legacy(b: &Body) -> Vec<u8> {
        let Body::PaymentRecorded(p) = b else {
            unreachable!("payments only")
        };
        serde_json::to_vec(p).expect("json")
    }

    #[test]
    fn round_trips_through_bytes() {
        let b = payment();
        let bytes = b.encode(&clerk());
        assert!(bytes.starts_with(ENVELOPE_PREFIX));
        assert_eq!(Body::decode(b.kind(), &bytes), Ok((b, Some(clerk()))));
        assert_eq!(actor_of(&bytes), Some(clerk()));
    }

    #[test]
    fn the_envelope_wraps_the_bare_bytes_unchanged() {
        let b = payment();
        let bytes = b.encode(&clerk());
        let bare = legacy(&b);
        assert_eq!(inner_bytes(&bytes), bare.as_slice());
        assert_eq!(inner_bytes(&bare), bare.as_slice());
        let mut expected = ENVELOPE_PREFIX.to_vec();
        expected.extend(serde_json::to_vec(&clerk()).expect("json"));
        expected.extend(br#","body":"#);
        expected.extend(&bare);
        expected.push(b'}');
        assert_eq!(bytes, expected);
    }

    #[test]
    fn legacy_bytes_decode_without_an_actor() {
        let b = payment();
        let bare = legacy(&b);
        assert!(!bare.starts_with(ENVELOPE_PREFIX));
        assert_eq!(Body::decode(b.kind(), &bare), Ok((b, None)));
        assert_eq!(actor_of(&bare), None);
    }

    #[test]
    fn refuses_malformed_envelopes() {
        let b = payment();
        let bare: serde_json::Value = serde_json::from_slice(&legacy(&b)).expect("json");
        let cases = [
            // An unknown field beside actor and body.
            serde_json::json!({"actor": clerk(), "body": bare, "extra": 1}),
            // An unknown field inside the actor.
            serde_json::json!({"actor": {"login": "a", "name": "", "role": "r", "addr": "", "x": 1}, "body": bare}),
            // No actor at all (legacy parse: `body` is no field of the kind).
            serde_json::json!({"body": bare}),
            // A null actor, or an actor missing a field.
            serde_json::json!({"actor": null, "body": bare}),
            serde_json::json!({"actor": {"login": "a", "name": "", "role": "r"}, "body": bare}),
            // No body.
            serde_json::json!({"actor": clerk()}),
        ];
        for v in cases {
            let bytes = serde_json::to_vec(&v).expect("json");
            assert!(
                matches!(
                    Body::decode("payment_recorded", &bytes),
                    Err(BodyError::Malformed { .. })
                ),
                "{v}"
            );
        }
        let mut empty_login = clerk();
        empty_login.login = String::new();
        assert_eq!(
            Body::decode("payment_recorded", &b.encode(&empty_login)),
            Err(BodyError::Empty {
                field: "actor.login"
            })
        );
        let mut control = clerk();
        control.name = "a\u{7}".into();
        assert_eq!(
            Body::decode("payment_recorded", &b.encode(&control)),
            Err(BodyError::Control {
                field: "actor.name"
            })
        );
    }

    #[test]
    fn refuses_unknown_kind_and_fields() {
        assert!(matches!(
            Body::decode("nope", b"{}"),
            Err(BodyError::UnknownKind(_))
        ));
        let mut v: serde_json::Value =
            serde_json::from_slice(&legacy(&payment())).unwrap_or_default();
        v["extra"] = 1.into();
        let bytes = serde_json::to_vec(&v).unwrap_or_default();
        assert!(matches!(
            Body::decode("payment_recorded", &bytes),
            Err(BodyError::Malformed { .. })
        ));
        assert!(matches!(
            Body::decode("payment_recorded", b"\xff\x00"),
            Err(BodyError::Malformed { .. })
        ));
    }

    #[test]
    fn validates_text() {
        let Body::PaymentRecorded(mut p) = payment() else {
            unreachable!()
        };
        p.payee_name = "a\u{0}b".into();
        assert_eq!(
            Body::PaymentRecorded(p.clone()).validate(),
            Err(BodyError::Control {
                field: "payee_name"
            })
        );
        p.payee_name = " ".into();
        assert_eq!(
            Body::PaymentRecorded(p.clone()).validate(),
            Err(BodyError::Empty {
                field: "payee_name"
            })
        );
        p.payee_name = "x".repeat(TEXT_CHARS_MAX + 1);
        assert!(matches!(
            Body::PaymentRecorded(p).validate(),
            Err(BodyError::TooLong { .. })
        ));
    }

    #[test]
    fn security_events_round_trip_validate_and_never_go_down() {
        let me: NodeCode = "652822".parse().expect("code");
        let e = SecurityEvent {
            event: SecurityEventKind::RoleGranted,
            subject: "lisi".into(),
            detail: "treasury".into(),
        };
        let b = Body::SecurityEvent(e.clone());
        let bytes = b.encode(&clerk());
        let inner = br#"{"event":"role_granted","subject":"lisi","detail":"treasury"}"#;
        assert_eq!(inner_bytes(&bytes), inner.as_slice());
        assert_eq!(
            Body::decode("security_event", &bytes),
            Ok((b.clone(), Some(clerk())))
        );
        assert_eq!(b.down_to(me), None);
        for k in SecurityEventKind::ALL {
            assert_eq!(k.as_str().parse::<SecurityEventKind>(), Ok(k));
            let json = serde_json::to_string(&k).expect("json");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(
            SecurityEventKind::ALL
                .iter()
                .filter(|k| k.is_login())
                .count(),
            4
        );
        let mut long = e.clone();
        long.detail = "x".repeat(TEXT_CHARS_MAX + 1);
        assert!(matches!(
            Body::SecurityEvent(long).validate(),
            Err(BodyError::TooLong {
                field: "detail",
                ..
            })
        ));
        let mut odd = e;
        odd.subject = "a\nb".into();
        assert_eq!(
            Body::SecurityEvent(odd).validate(),
            Err(BodyError::Control { field: "subject" })
        );
        let unknown =
            br#"{"actor":{"login":"a","name":"","role":"r","addr":""},"body":{"event":"sudo"}}"#;
        assert!(matches!(
            Body::decode("security_event", unknown),
            Err(BodyError::Malformed { .. })
        ));
    }

    #[test]
    fn warning_params_and_follow_ups_validate_and_never_go_down() {
        let me: NodeCode = "652822".parse().expect("code");
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        let mut params = WarningParams::new();
        params.insert("amount".into(), "53994.60".into());
        params.insert("since".into(), "2020-04-02".into());
        let raised = WarningRaised {
            rule: "idle_funds".into(),
            subject: "allocation:652800-3".into(),
            node: me,
            message: "m".into(),
            as_of: d("2020-07-01"),
            amount: None,
            params: Some(params.clone()),
        };
        let b = Body::WarningRaised(raised.clone());
        assert_eq!(
            Body::decode(b.kind(), &b.encode(&clerk())),
            Ok((b, Some(clerk())))
        );
        // Old warnings (no params) keep their exact bytes: the field is
        // left out when absent.
        let old = WarningRaised {
            params: None,
            ..raised.clone()
        };
        let bare = serde_json::to_vec(&old).expect("json");
        assert!(!bare.windows(6).any(|w| w == b"params"));
        assert_eq!(
            Body::decode("warning_raised", &bare),
            Ok((Body::WarningRaised(old), None))
        );
        for (k, v, ok) in [
            ("idle_days", "91", true),
            ("Idle", "91", false),
            ("amount", "a\u{7}b", false),
            ("", "x", false),
        ] {
            let mut p = params.clone();
            p.insert(k.into(), v.into());
            let r = WarningRaised {
                params: Some(p),
                ..raised.clone()
            };
            assert_eq!(Body::WarningRaised(r).validate().is_ok(), ok, "{k:?}");
        }
        let many: WarningParams = (0..=WARNING_PARAMS_MAX)
            .map(|i| (format!("k{i}"), "v".to_owned()))
            .collect();
        let r = WarningRaised {
            params: Some(many),
            ..raised
        };
        assert!(Body::WarningRaised(r).validate().is_err());

        let assigned = FollowUpAssigned {
            warning: "652822-9".parse().expect("id"),
            assignee: "li".into(),
            assignee_name: "李四".into(),
            desk: "treasury".into(),
            deadline: d("2020-07-10"),
            assigned_on: d("2020-06-30"),
            note: String::new(),
        };
        let b = Body::FollowUpAssigned(assigned.clone());
        assert_eq!(
            Body::decode("follow_up_assigned", &b.encode(&clerk())),
            Ok((b.clone(), Some(clerk())))
        );
        assert_eq!(b.down_to(me), None);
        for (deadline, ok) in [
            ("2020-06-30", true),
            ("2020-06-29", false),
            ("2021-07-01", true),
            ("2021-07-02", false),
        ] {
            let a = FollowUpAssigned {
                deadline: d(deadline),
                ..assigned.clone()
            };
            assert_eq!(
                Body::FollowUpAssigned(a).validate().is_ok(),
                ok,
                "{deadline}"
            );
        }
        let recorded = FollowUpRecorded {
            warning: "652822-9".parse().expect("id"),
            status: FollowUpStatus::Rectified,
            verification: "属实".into(),
            rectification: "已整改".into(),
            recorded_on: d("2020-07-01"),
        };
        let b = Body::FollowUpRecorded(recorded.clone());
        assert_eq!(
            Body::decode("follow_up_recorded", &b.encode(&clerk())),
            Ok((b.clone(), Some(clerk())))
        );
        assert_eq!(b.down_to(me), None);
        let no_measures = FollowUpRecorded {
            rectification: String::new(),
            ..recorded.clone()
        };
        assert!(Body::FollowUpRecorded(no_measures).validate().is_err());
        let unfounded = FollowUpRecorded {
            status: FollowUpStatus::Unfounded,
            verification: String::new(),
            ..recorded
        };
        assert!(Body::FollowUpRecorded(unfounded).validate().is_err());
        let unknown = br#"{"actor":{"login":"a","name":"","role":"r","addr":""},"body":{"warning":"652822-9","status":"done","recorded_on":"2020-07-01"}}"#;
        assert!(matches!(
            Body::decode("follow_up_recorded", unknown),
            Err(BodyError::Malformed { .. })
        ));
        for s in FollowUpStatus::ALL {
            assert_eq!(s.as_str().parse::<FollowUpStatus>(), Ok(s));
        }
    }

    #[test]
    fn target_levels_must_agree() {
        let t = TargetSet {
            project: "P1".into(),
            level1: TargetLevel1::Effect,
            level2: TargetLevel2::Quantity,
            indicator: "道路里程".into(),
            op: TargetOp::AtLeast,
            value: Decimal::from(10),
            unit: "公里".into(),
        };
        assert!(matches!(
            Body::TargetSet(t).validate(),
            Err(BodyError::Invalid(_))
        ));
    }

    #[test]
    fn an_actual_without_a_note_keeps_the_bytes_it_had_before_notes() {
        let target: EntryId = "652822-9".parse().expect("id");
        let bare = Body::TargetActualRecorded(TargetActualRecorded {
            target,
            actual: Decimal::from(12),
            recorded_on: NaiveDate::from_ymd_opt(2020, 9, 25).expect("date"),
            note: String::new(),
            evidence: String::new(),
        });
        let bytes = bare.encode(&Actor::system());
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        assert!(
            text.ends_with(
                r#""body":{"target":"652822-9","actual":"12","recorded_on":"2020-09-25"}}"#
            ),
            "{text}"
        );
        // An entry written before the field decodes with an empty note.
        let old = br#"{"target":"652822-9","actual":"12","recorded_on":"2020-09-25"}"#;
        assert_eq!(
            Body::decode("target_actual_recorded", old).map(|(b, _)| b),
            Ok(bare)
        );
        let noted = Body::TargetActualRecorded(TargetActualRecorded {
            target,
            actual: Decimal::from(12),
            recorded_on: NaiveDate::from_ymd_opt(2020, 9, 25).expect("date"),
            note: "验收报告".into(),
            evidence: String::new(),
        });
        let (back, _) = Body::decode("target_actual_recorded", &noted.encode(&Actor::system()))
            .expect("decodes");
        assert_eq!(back, noted);
        let Body::TargetActualRecorded(mut long) = noted else {
            unreachable!()
        };
        long.note = "注".repeat(TEXT_CHARS_MAX + 1);
        assert!(Body::TargetActualRecorded(long).validate().is_err());
    }

    /// Version 6: an actual's evidence reference. Without one the bytes are
    /// those of version 5 (the test above); with one it is the last field,
    /// bounded and free of control characters.
    #[test]
    fn an_actual_carries_an_evidence_reference_since_version_6() {
        let target: EntryId = "652822-9".parse().expect("id");
        let with = TargetActualRecorded {
            target,
            actual: Decimal::from(12),
            recorded_on: NaiveDate::from_ymd_opt(2020, 9, 25).expect("date"),
            note: "验收报告".into(),
            evidence: "轮台农验〔2020〕7号".into(),
        };
        let bytes = Body::TargetActualRecorded(with.clone()).encode(&Actor::system());
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        assert!(
            text.ends_with(r#""note":"验收报告","evidence":"轮台农验〔2020〕7号"}}"#),
            "{text}"
        );
        let (back, _) = Body::decode("target_actual_recorded", &bytes).expect("decodes");
        assert_eq!(back, Body::TargetActualRecorded(with.clone()));
        assert_eq!(Body::TargetActualRecorded(with.clone()).validate(), Ok(()));
        let longest = TargetActualRecorded {
            evidence: "证".repeat(EVIDENCE_CHARS_MAX),
            ..with.clone()
        };
        assert_eq!(Body::TargetActualRecorded(longest).validate(), Ok(()));
        let long = TargetActualRecorded {
            evidence: "证".repeat(EVIDENCE_CHARS_MAX + 1),
            ..with.clone()
        };
        assert_eq!(
            Body::TargetActualRecorded(long).validate(),
            Err(BodyError::TooLong {
                field: "evidence",
                max: EVIDENCE_CHARS_MAX
            })
        );
        let control = TargetActualRecorded {
            evidence: "验收\n报告".into(),
            ..with
        };
        assert_eq!(
            Body::TargetActualRecorded(control).validate(),
            Err(BodyError::Control { field: "evidence" })
        );
    }

    #[test]
    fn key_registration_checks_the_key_and_its_id() {
        let node: NodeCode = "652822".parse().expect("code");
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let good = KeyRegistered::of(node, &key);
        assert_eq!(good.verifying_key(), Ok(key));
        let round = Body::decode(
            "key_registered",
            &Body::KeyRegistered(good.clone()).encode(&Actor::system()),
        );
        assert_eq!(
            round,
            Ok((Body::KeyRegistered(good.clone()), Some(Actor::system())))
        );

        let mut wrong_id = good.clone();
        wrong_id.key_id = KeyId([0; 8]);
        assert!(matches!(
            Body::KeyRegistered(wrong_id).validate(),
            Err(BodyError::Invalid(m)) if m.contains("key_id")
        ));
        let mut not_hex = good.clone();
        not_hex.public_key = "zz".repeat(32);
        assert!(Body::KeyRegistered(not_hex).validate().is_err());
        let mut short = good;
        short.public_key.truncate(62);
        assert!(Body::KeyRegistered(short).validate().is_err());
    }

    #[test]
    fn only_allocations_and_child_keys_go_down() {
        let parent: NodeCode = "652800".parse().expect("code");
        let child: NodeCode = "652822".parse().expect("code");
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(
            Body::KeyRegistered(KeyRegistered::of(child, &key)).down_to(parent),
            Some(child)
        );
        assert_eq!(
            Body::KeyRegistered(KeyRegistered::of(parent, &key)).down_to(parent),
            None
        );
        assert_eq!(payment().down_to(parent), None);
        assert_eq!(
            Body::ChildRevoked(ChildRevoked {
                code: child,
                reason: String::new()
            })
            .down_to(parent),
            None
        );
    }

    #[test]
    fn warnings_validate_round_trip_and_never_go_down() {
        let me: NodeCode = "652800".parse().expect("code");
        let raised = WarningRaised {
            rule: "issue_deadline".into(),
            subject: "allocation:650000-7".into(),
            node: me,
            message: "新财农〔2020〕27号: 100.00 yuan not passed on".into(),
            as_of: NaiveDate::from_ymd_opt(2020, 5, 1).unwrap_or_default(),
            amount: Some("100".parse().expect("amount")),
            params: None,
        };
        let b = Body::WarningRaised(raised.clone());
        let sys = Some(Actor::system());
        assert_eq!(
            Body::decode(b.kind(), &b.encode(&Actor::system())),
            Ok((b.clone(), sys.clone()))
        );
        assert_eq!(b.down_to(me), None);
        let resolved = Body::WarningResolved(WarningResolved {
            warning: "652800-9".parse().expect("id"),
            reason: "passed on in full".into(),
            as_of: raised.as_of,
        });
        assert_eq!(
            Body::decode(resolved.kind(), &resolved.encode(&Actor::system())),
            Ok((resolved.clone(), sys))
        );
        assert_eq!(resolved.down_to(me), None);

        for (rule, ok) in [
            ("idle_funds", true),
            ("Idle", false),
            ("a-b", false),
            ("", false),
        ] {
            let mut r = raised.clone();
            r.rule = rule.into();
            assert_eq!(Body::WarningRaised(r).validate().is_ok(), ok, "{rule:?}");
        }
        let mut r = raised.clone();
        r.subject = " ".into();
        assert_eq!(
            Body::WarningRaised(r).validate(),
            Err(BodyError::Empty { field: "subject" })
        );
        let mut r = raised;
        r.message = "x".repeat(TEXT_CHARS_MAX + 1);
        assert!(matches!(
            Body::WarningRaised(r).validate(),
            Err(BodyError::TooLong {
                field: "message",
                ..
            })
        ));
        let Body::WarningResolved(mut w) = resolved else {
            unreachable!()
        };
        w.reason = String::new();
        assert_eq!(
            Body::WarningResolved(w).validate(),
            Err(BodyError::Empty { field: "reason" })
        );
    }

    #[test]
    fn publications_validate_round_trip_and_never_go_down() {
        let me: NodeCode = "652800".parse().expect("code");
        let p = ResultsPublished {
            doc_no: "巴财公〔2020〕3号".into(),
            title: "2020年第一批财政专项扶贫资金分配结果公示".into(),
            scope: PublicationScope::Allocations,
            published_on: NaiveDate::from_ymd_opt(2020, 5, 6).expect("date"),
            records: vec![
                "652800-7".parse().expect("id"),
                "652800-8".parse().expect("id"),
            ],
        };
        let b = Body::ResultsPublished(p.clone());
        let bytes = b.encode(&clerk());
        assert!(inner_bytes(&bytes).ends_with(br#""records":["652800-7","652800-8"]}"#));
        assert_eq!(
            Body::decode("results_published", &bytes),
            Ok((b.clone(), Some(clerk())))
        );
        assert_eq!(b.down_to(me), None);
        for s in PublicationScope::ALL {
            assert_eq!(s.as_str().parse::<PublicationScope>(), Ok(s));
        }
        let none = ResultsPublished {
            records: vec![],
            ..p.clone()
        };
        assert_eq!(
            Body::ResultsPublished(none).validate(),
            Err(BodyError::Empty { field: "records" })
        );
        let twice = ResultsPublished {
            records: vec!["652800-7".parse().expect("id"); 2],
            ..p.clone()
        };
        assert!(matches!(
            Body::ResultsPublished(twice).validate(),
            Err(BodyError::Invalid(m)) if m.contains("twice")
        ));
        let many = ResultsPublished {
            records: (1..)
                .take(PUBLISHED_RECORDS_MAX + 1)
                .map(|seq| EntryId { origin: me, seq })
                .collect(),
            ..p.clone()
        };
        assert!(Body::ResultsPublished(many).validate().is_err());
        let untitled = ResultsPublished {
            title: " ".into(),
            ..p
        };
        assert_eq!(
            Body::ResultsPublished(untitled).validate(),
            Err(BodyError::Empty { field: "title" })
        );
        let unknown = br#"{"actor":{"login":"a","name":"","role":"r","addr":""},"body":{"doc_no":"x","title":"t","scope":"payees","published_on":"2020-05-06","records":["652800-7"]}}"#;
        assert!(matches!(
            Body::decode("results_published", unknown),
            Err(BodyError::Malformed { .. })
        ));
    }
    #[test]
    fn self_evaluation_kinds_round_trip_validate_and_never_go_down() {
        let me: NodeCode = "652822".parse().expect("code");
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        let id = |s: &str| s.parse::<EntryId>().expect("id");
        let dec = |s: &str| s.parse::<Decimal>().expect("decimal");
        let eval = SelfEvaluationRecorded {
            project: "LT2020-007".into(),
            year: 2020,
            indicators: vec![IndicatorEvaluation {
                target: id("652822-4"),
                actual: dec("13"),
                completion: dec("108.33"),
            }],
            shortfall: String::new(),
            measures: "加强管护".into(),
            evaluated_on: d("2020-12-20"),
        };
        let report = EvaluationReportCompiled {
            year: 2020,
            scope: ReportScope::Node,
            department: String::new(),
            evaluations: vec![id("652822-9")],
            reports: vec![],
            indicators: 1,
            met: 1,
            funds: dec("800000.00"),
            summary: "完成".into(),
            compiled_on: d("2020-12-25"),
        };
        let check = SpotCheckRecorded {
            year: 2020,
            title: "抽查".into(),
            method: SampleMethod::Random,
            seed: Some(7),
            sample: vec![id("652822-9")],
            checked_on: d("2021-01-05"),
        };
        let finding = SpotCheckFinding {
            spot_check: id("650000-3"),
            evaluation: id("652822-9"),
            verdict: FindingVerdict::NonConforming,
            notes: "佐证材料不全".into(),
            found_on: d("2021-01-10"),
        };
        for b in [
            Body::SelfEvaluationRecorded(eval.clone()),
            Body::EvaluationReportCompiled(report.clone()),
            Body::SpotCheckRecorded(check.clone()),
            Body::SpotCheckFinding(finding.clone()),
        ] {
            assert_eq!(b.validate(), Ok(()), "{b:?}");
            let bytes = b.encode(&clerk());
            assert_eq!(
                Body::decode(b.kind(), &bytes),
                Ok((b.clone(), Some(clerk())))
            );
            assert_eq!(b.down_to(me), None);
        }
        let bad = [
            Body::SelfEvaluationRecorded(SelfEvaluationRecorded {
                indicators: vec![],
                ..eval.clone()
            }),
            Body::SelfEvaluationRecorded(SelfEvaluationRecorded {
                evaluated_on: d("2019-12-31"),
                ..eval.clone()
            }),
            Body::SelfEvaluationRecorded(SelfEvaluationRecorded {
                indicators: vec![eval.indicators[0].clone(), eval.indicators[0].clone()],
                ..eval.clone()
            }),
            Body::SelfEvaluationRecorded(SelfEvaluationRecorded {
                indicators: vec![IndicatorEvaluation {
                    completion: dec("-1"),
                    ..eval.indicators[0].clone()
                }],
                ..eval.clone()
            }),
            Body::EvaluationReportCompiled(EvaluationReportCompiled {
                funds: dec("0.001"),
                ..report.clone()
            }),
            Body::EvaluationReportCompiled(EvaluationReportCompiled {
                met: 2,
                ..report.clone()
            }),
            Body::EvaluationReportCompiled(EvaluationReportCompiled {
                department: "交通局".into(),
                ..report.clone()
            }),
            Body::EvaluationReportCompiled(EvaluationReportCompiled {
                scope: ReportScope::Department,
                ..report.clone()
            }),
            Body::SpotCheckRecorded(SpotCheckRecorded {
                seed: None,
                ..check.clone()
            }),
            Body::SpotCheckRecorded(SpotCheckRecorded {
                sample: vec![],
                ..check.clone()
            }),
            Body::SpotCheckFinding(SpotCheckFinding {
                notes: String::new(),
                ..finding.clone()
            }),
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
        // A finding's rectification is the follow-up naming the finding:
        // the follow-up's bytes are what they were.
        let f = FollowUpAssigned {
            warning: id("650000-4"),
            assignee: "li".into(),
            assignee_name: String::new(),
            desk: String::new(),
            deadline: d("2021-03-31"),
            assigned_on: d("2021-01-10"),
            note: String::new(),
        };
        assert_eq!(
            inner_bytes(&Body::FollowUpAssigned(f).encode(&clerk())),
            br#"{"warning":"650000-4","assignee":"li","assignee_name":"","desk":"","deadline":"2021-03-31","assigned_on":"2021-01-10","note":""}"#
        );
    }

    #[test]
    fn carry_over_and_recalls_round_trip_validate_and_never_go_down() {
        let me: NodeCode = "652822".parse().expect("code");
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        let explained = CarryOverExplained {
            allocation: "652800-9".parse().expect("id"),
            as_of: d("2020-09-25"),
            reason: CarryOverReason::QualityGuarantee,
            amount: "15800".parse().expect("amount"),
            planned_on: d("2020-09-30"),
            project: "LT2020-007".into(),
            note: String::new(),
        };
        let b = Body::CarryOverExplained(explained.clone());
        let bytes = b.encode(&clerk());
        assert!(
            inner_bytes(&bytes).ends_with(br#""planned_on":"2020-09-30","project":"LT2020-007"}"#),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(
            Body::decode("carry_over_explained", &bytes),
            Ok((b.clone(), Some(clerk())))
        );
        assert_eq!(b.down_to(me), None);
        // "other" needs a note; a note or project of the wrong shape is refused.
        let other = CarryOverExplained {
            reason: CarryOverReason::Other,
            ..explained.clone()
        };
        assert_eq!(
            Body::CarryOverExplained(other.clone()).validate(),
            Err(BodyError::Empty { field: "note" })
        );
        let noted = CarryOverExplained {
            note: "项目结余".into(),
            ..other
        };
        assert_eq!(Body::CarryOverExplained(noted).validate(), Ok(()));
        let odd = CarryOverExplained {
            project: "a\nb".into(),
            ..explained.clone()
        };
        assert!(Body::CarryOverExplained(odd).validate().is_err());
        for r in CarryOverReason::ALL {
            assert_eq!(r.as_str().parse::<CarryOverReason>(), Ok(r));
            let json = serde_json::to_string(&r).expect("json");
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        let unknown = br#"{"actor":{"login":"a","name":"","role":"r","addr":""},"body":{"allocation":"652800-9","as_of":"2020-09-25","reason":"lost","amount":"1","planned_on":"2020-09-30"}}"#;
        assert!(matches!(
            Body::decode("carry_over_explained", unknown),
            Err(BodyError::Malformed { .. })
        ));

        let recalled = FundsRecalled {
            allocation: "652800-9".parse().expect("id"),
            doc_no: "巴财农〔2020〕88号".into(),
            amount: "1000.50".parse().expect("amount"),
            recalled_on: d("2020-10-10"),
            purpose: RecallPurpose::Pooling,
            reason: String::new(),
        };
        let b = Body::FundsRecalled(recalled.clone());
        assert_eq!(
            Body::decode("funds_recalled", &b.encode(&clerk())),
            Ok((b.clone(), Some(clerk())))
        );
        assert_eq!(b.down_to(me), None);
        assert_eq!(b.down_to("652800".parse().expect("code")), None);
        let no_doc = FundsRecalled {
            doc_no: " ".into(),
            ..recalled
        };
        assert_eq!(
            Body::FundsRecalled(no_doc).validate(),
            Err(BodyError::Empty { field: "doc_no" })
        );
        for p in RecallPurpose::ALL {
            assert_eq!(p.as_str().parse::<RecallPurpose>(), Ok(p));
        }
    }
}
