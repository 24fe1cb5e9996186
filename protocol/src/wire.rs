//! The HTTP contract between nodes, beyond the binary batches: paths,
//! headers, the JSON answers and the error body with its codes.
//!
//! Everything a second implementation of a node needs to talk to this one
//! is here or in the batch and down-stream framing ([`crate::batch`],
//! [`crate::down`]); the node crate adds only its handlers. The same error
//! body and codes answer the node's local API (`/api/v1`), so the codes of
//! its refusals are listed here too.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::body::LinkReported;
use crate::hash::Hash;
use crate::ids::NodeCode;

/// The header every sync request (and answer) carries with the sender's
/// protocol version ([`crate::PROTOCOL_VERSION`]).
pub const VERSION_HEADER: &str = "fundsync-protocol";

/// The header of a down answer naming the length of the parent's stream to
/// the child, so the child knows how far behind it is.
pub const DOWN_HEAD_HEADER: &str = "fundsync-down-head";

/// `GET`: the tree's root CA certificate (PEM), before the child can verify
/// the parent; nothing secret is sent.
pub const CA_PATH: &str = "/sync/v1/ca";
/// `POST` a [`JoinRequest`], answered with a [`JoinResponse`].
pub const JOIN_PATH: &str = "/sync/v1/join";
/// `GET`: the parent's [`Hello`].
pub const HELLO_PATH: &str = "/sync/v1/hello";
/// `GET`: the parent's [`HeadView`]s of the child's subtree.
pub const HEADS_PATH: &str = "/sync/v1/heads";
/// `POST` an encoded [`crate::Batch`], answered with an [`UpReceipt`].
pub const UP_PATH: &str = "/sync/v1/up";
/// `GET` with a [`DownQuery`]: an encoded [`crate::DownBatch`] and the
/// [`DOWN_HEAD_HEADER`].
pub const DOWN_PATH: &str = "/sync/v1/down";
/// `GET` with an [`OwnQuery`]: an encoded [`crate::Batch`] of the child's own
/// entries as the parent holds them.
pub const OWN_PATH: &str = "/sync/v1/own";
/// `POST` a [`HealthReports`], answered with a [`HealthReceipt`]: the
/// child's heartbeat, with the link reports of its subtree it relays. Not a
/// journal entry (telemetry is not ledger); an older parent answers 404.
pub const HEALTH_PATH: &str = "/sync/v1/health";

/// `POST` a [`DigestReport`], answered with a [`DigestAnswer`]: the child's
/// heads and a digest of its money rows per origin, which the parent
/// compares with its own copy. Added without a version bump: an older
/// parent answers 404 and the child stops asking.
pub const DIGEST_PATH: &str = "/sync/v1/digest";

/// Most origins one [`DigestReport`] may carry.
pub const DIGEST_ORIGINS_MAX: usize = 10_000;

/// A digest of the money rows this node derived from one origin's chain,
/// as they stood when its head was `seq` / `hash`: the `payments`,
/// `payment_reversals` and `projects` (paid sums) rows of that origin, in a
/// fixed order and framing (`Ledger::money_digests`). Two nodes holding
/// the same chain up to the same head must derive the same rows.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginDigest {
    pub origin: NodeCode,
    pub seq: u64,
    pub hash: Hash,
    /// Rows digested.
    pub rows: u64,
    pub digest: Hash,
}

/// The body of [`DIGEST_PATH`]: digests of the origins of the child's
/// subtree (its own and its descendants').
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestReport {
    pub origins: Vec<OriginDigest>,
}

/// How one origin's digests compared at the parent.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestOutcome {
    /// The same head, the same rows.
    Equal,
    /// The same head, other rows: one of the two copies was altered
    /// behind its ledger (an alarm at the parent).
    Differs,
    /// The heads differ (one side is behind): not compared.
    NotCompared,
}

/// One origin of a [`DigestAnswer`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestCompared {
    pub origin: NodeCode,
    pub outcome: DigestOutcome,
    /// The parent's own digest, when it compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theirs: Option<OriginDigest>,
}

/// The answer of [`DIGEST_PATH`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestAnswer {
    pub compared: Vec<DigestCompared>,
}

/// Who a parent is and the keys it signs with.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub node: NodeCode,
    pub version: u16,
    /// Public keys (hex) of this node, newest last.
    pub keys: Vec<String>,
}

/// One origin's head as a peer sees it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadView {
    pub origin: NodeCode,
    pub seq: u64,
    pub hash: Hash,
}

/// What an upward batch did at the receiver.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpReceipt {
    pub applied: usize,
    pub duplicates: usize,
    /// The receiver's heads of the batch's origins it took, after it.
    pub heads: Vec<HeadView>,
    /// The origins whose runs it refused, and why: a bad chain stops its
    /// own origin only, the batch's other origins are applied. Left out when
    /// empty (as an older receiver answers: it refuses a batch whole); a
    /// batch none of whose origins was taken is answered with the first
    /// refusal's `{error, message}` instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<OriginRefused>,
}

/// One origin's run of an upward batch the receiver refused (nothing of it
/// applied), with the code and message it would have answered alone.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginRefused {
    pub origin: NodeCode,
    pub error: ErrorCode,
    pub message: String,
}

/// The query of [`DOWN_PATH`]: the entries past position `after` of the
/// parent's down stream to the child, waiting up to `wait_ms` for some.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownQuery {
    pub after: u64,
    #[serde(default)]
    pub wait_ms: u64,
}

/// The query of [`OWN_PATH`]: the child's own entries after `after`
/// (`origin` must be the child itself).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnQuery {
    pub origin: NodeCode,
    pub after: u64,
}

/// One node's latest report on its link to its parent, as the node made it
/// (`reported_ms` on its own clock) and as its ancestors relay it unchanged.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkReport {
    /// The node whose link this is.
    pub node: NodeCode,
    pub reported_ms: i64,
    pub report: LinkReported,
}

/// The body of [`HEALTH_PATH`]: the sender's own report, sent at every report
/// interval, and the latest report it holds of each node below it. The
/// parent takes reports about the sender and its subtree only, and keeps the
/// newest `reported_ms` of each node.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthReports {
    pub reports: Vec<LinkReport>,
}

/// What a [`HealthReports`] did at the parent: how many reports were newer
/// than the ones it held.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReceipt {
    pub stored: usize,
}

/// A child's request to join, with its one-time token's secret.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    pub child: NodeCode,
    /// The token's secret, hex.
    pub secret: String,
    /// CSR for the child's TLS key.
    pub csr_pem: String,
    /// CSR for a prefecture's issuing (CA) key.
    #[serde(default)]
    pub issuer_csr_pem: Option<String>,
    /// The child's entry-signing public key, hex.
    pub sign_public_key: String,
}

/// The parent's answer to a [`JoinRequest`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinResponse {
    pub chain_pem: String,
    pub root_pem: String,
    #[serde(default)]
    pub issuer_cert_pem: Option<String>,
    /// The parent's signing public keys, hex, newest last.
    pub parent_keys: Vec<String>,
}

/// Every refusal, from the sync listener and the local API alike:
/// `{"error": code, "message": text}`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    #[serde(default)]
    pub message: String,
}

/// Declares [`ErrorCode`] with its wire string next to each variant, so the
/// two cannot drift apart.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// Why a node refused a request: the stable, machine-readable `error`
        /// of an [`ErrorBody`]. A code this release does not know (from a
        /// newer peer) reads as [`ErrorCode::Unknown`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this release does not know.
            Unknown,
        }

        impl ErrorCode {
            /// Every code but [`ErrorCode::Unknown`].
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it is sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Unknown => "unknown",
                }
            }
        }

        impl FromStr for ErrorCode {
            type Err = std::convert::Infallible;
            /// Never fails: an unknown code is [`ErrorCode::Unknown`].
            fn from_str(s: &str) -> Result<ErrorCode, Self::Err> {
                Ok(match s {
                    $($text => ErrorCode::$variant,)*
                    _ => ErrorCode::Unknown,
                })
            }
        }
    };
}

error_codes! {
    // Requests.
    /// No such endpoint or record.
    NotFound = "not_found",
    /// The JSON body could not be read.
    InvalidJson = "invalid_json",
    /// The query string could not be read.
    InvalidQuery = "invalid_query",
    /// An id in the path could not be read.
    InvalidId = "invalid_id",
    /// The body is over the limit.
    PayloadTooLarge = "payload_too_large",
    /// The body is not of the content type the endpoint takes.
    UnsupportedMediaType = "unsupported_media_type",
    /// The node cannot serve yet (its database is unavailable).
    NotReady = "not_ready",
    /// An import file with no rows.
    Empty = "empty",
    /// An import file with rows that were refused.
    InvalidRows = "invalid_rows",
    /// The node failed; details are in its log, never in the answer.
    Internal = "internal",
    // People.
    /// No credentials, or credentials that are not (or no longer) valid:
    /// sign in (401).
    Unauthenticated = "unauthenticated",
    /// Signed in, but no role of the caller's grants what the route needs,
    /// or the record is outside the caller's scope (403).
    Forbidden = "forbidden",
    /// A form without the session's CSRF token (403).
    CsrfFailed = "csrf_failed",
    /// Too many failed sign-ins: the account or address is locked for a
    /// while (429).
    Locked = "locked",
    /// Too many of this kind of request at once (exports): try again soon.
    Busy = "busy",
    /// The request's Host is not one of the node's allowed hosts (400).
    HostNotAllowed = "host_not_allowed",
    // The ledger's rules.
    /// An entry kind this release does not know.
    UnknownKind = "unknown_kind",
    /// An entry body that does not validate.
    InvalidInput = "invalid_input",
    UnknownCategory = "unknown_category",
    CategoryOrigin = "category_origin",
    /// Already recorded with other fields.
    Conflict = "conflict",
    UnknownAllocation = "unknown_allocation",
    NotHolder = "not_holder",
    CategoryMismatch = "category_mismatch",
    OverAllocation = "over_allocation",
    /// Not a registered direct child of this node.
    NotAChild = "not_a_child",
    NotTopNode = "not_top_node",
    NoChildren = "no_children",
    OutsideDivision = "outside_division",
    UnknownProject = "unknown_project",
    NoPerformanceTarget = "no_performance_target",
    ProjectCancelled = "project_cancelled",
    UnknownTarget = "unknown_target",
    DuplicateVoucher = "duplicate_voucher",
    UnknownVoucher = "unknown_voucher",
    AlreadyReversed = "already_reversed",
    OverBalance = "over_balance",
    Overflow = "overflow",
    UnknownWarning = "unknown_warning",
    /// A follow-up of a warning already resolved.
    WarningResolved = "warning_resolved",
    /// An answer to a warning's follow-up before it was assigned.
    NotAssigned = "not_assigned",
    /// A business date outside the window the node accepts (its `[rules]`).
    DateOutOfRange = "date_out_of_range",
    /// A payment dated before the allocation it draws on.
    PaymentBeforeAllocation = "payment_before_allocation",
    /// A reversal dated before the payment it reverses.
    ReversalBeforePayment = "reversal_before_payment",
    /// An allocation dated before the allocation, own budget or funds
    /// received it is carved from.
    AllocationBeforeSource = "allocation_before_source",
    /// A replicated entry that may not travel this way.
    Misdirected = "misdirected",
    /// A replicated entry drawing on an allocation not held yet; retried.
    NotYetHeld = "not_yet_held",
    /// The node's database belongs to another node or is not initialised.
    Misconfigured = "misconfigured",
    /// The node's ledger was restored from a backup behind what its parent
    /// (or its children) acknowledged of its own chain: it records nothing
    /// until it has taken its entries back (503; lifts by itself).
    LedgerRestored = "ledger_restored",
    // Sync.
    /// No protocol version, or one this node does not accept.
    UnsupportedVersion = "unsupported_version",
    /// A batch over the limits.
    TooLarge = "too_large",
    /// A batch that does not decode.
    Malformed = "malformed",
    /// A batch for another node.
    Misaddressed = "misaddressed",
    /// Entries of an origin the sender may not send.
    OriginNotAllowed = "origin_not_allowed",
    /// Entries that do not follow the receiver's head.
    Gap = "gap",
    /// Entries that differ from the receiver's at the same seq.
    Fork = "fork",
    BrokenChain = "broken_chain",
    BadCheckpoint = "bad_checkpoint",
    UnknownKey = "unknown_key",
    BadSignature = "bad_signature",
    BadBody = "bad_body",
    /// A down stream whose running digest differs from the receiver's.
    DigestMismatch = "digest_mismatch",
    WrongSender = "wrong_sender",
    InvalidBatch = "invalid_batch",
    /// A key registration for a node that is not the receiver.
    ForeignKey = "foreign_key",
    /// A down stream ahead of what the parent holds.
    StreamAhead = "stream_ahead",
    /// The client certificate has been revoked.
    Revoked = "revoked",
    /// A request that needs a child's client certificate came without one.
    NoCertificate = "no_certificate",
    /// An enrolment token that is malformed, used, expired or not this node's.
    TokenRefused = "token_refused",
    /// A join request refused for another reason.
    JoinRefused = "join_refused",
    /// A publication (公告公示) naming a record this node may not make
    /// public: not its own allocation issued or project, or of a classified
    /// (涉密) category.
    NotPublishable = "not_publishable",
    // Carry-over and recall.
    /// A carry-over reason for an allocation with no balance on that day.
    NoBalance = "no_balance",
    /// A carry-over to be paid before the day its balance is taken.
    PlannedBeforeAsOf = "planned_before_as_of",
    /// A recall of an allocation no parent issued (own budget, funds
    /// received from the centre).
    NotRecallable = "not_recallable",
    /// A recall dated before the allocation it returns.
    RecallBeforeAllocation = "recall_before_allocation",
    // The target cycle (protocol version 5).
    /// A payment to, or the start (实施) of, a project whose performance
    /// targets are not all approved (批复).
    TargetsNotApproved = "targets_not_approved",
    /// An approval of a target submission that has not passed review.
    TargetNotReviewed = "target_not_reviewed",
    /// A review of a submission not awaiting review, or an adjustment of a
    /// target whose last submission is still open.
    TargetNotPending = "target_not_pending",
    /// An approval of a submission approved already, under another 文号.
    AlreadyApproved = "already_approved",
    /// A review or approval naming another node's target (a node decides
    /// only its own projects' targets).
    NotOwnTarget = "not_own_target",
    // Self-evaluation and spot checks.
    /// No self-evaluation with that entry id held here.
    UnknownEvaluation = "unknown_evaluation",
    /// An evaluation a report or spot check may not include: another
    /// year, another department, not of the subtree.
    NotIncludable = "not_includable",
    /// A finding about an evaluation not in the spot check's sample.
    NotInSample = "not_in_sample",
    /// No spot check of this node with that entry id.
    UnknownSpotCheck = "unknown_spot_check",
    /// A compiled report whose figures are not the ledger's.
    ReportFigures = "report_figures",
    // Requests the HTTP layer refuses before any handler reads them.
    /// A request the node could not read: a malformed request line or
    /// header, a path parameter or form that does not parse (400).
    BadRequest = "bad_request",
    /// The path exists, but not with this method (405; `Allow` lists
    /// the methods it takes).
    MethodNotAllowed = "method_not_allowed",
    /// The request's path and query are over the limit (414).
    UriTooLong = "uri_too_long",
    /// The request's headers are over the limit (431).
    HeadersTooLarge = "headers_too_large",
}

impl ErrorCode {
    /// The code of a refusal that an HTTP layer made rather than a handler
    /// (a method a path does not take, a body or URI over the limit, a
    /// request that does not parse), from its status alone.
    pub fn of_status(status: u16) -> ErrorCode {
        match status {
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            413 => ErrorCode::PayloadTooLarge,
            414 => ErrorCode::UriTooLong,
            415 => ErrorCode::UnsupportedMediaType,
            422 => ErrorCode::InvalidInput,
            431 => ErrorCode::HeadersTooLarge,
            503 => ErrorCode::NotReady,
            500..=599 => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets a test or a log filter name a code by its wire text
/// (`e.code() == "fork"`). Code that decides anything matches on the enum.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let Ok(code) = s.parse();
        Ok(code)
    }
}

/// The error codes as a closed list of strings (the OpenAPI description's
/// `{error, message}` body). Here rather than in `schema`, which sits at
/// the bottom layer with the other leaf types' schemas.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for ErrorCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        schemars::json_schema!({"type": "string", "enum": codes})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_as_the_strings_on_the_wire() {
        let mut seen = std::collections::HashSet::new();
        for &c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert_eq!(s.parse::<ErrorCode>(), Ok(c));
            let json = serde_json::to_string(&c).expect("serialise");
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).expect("parse"), c);
        }
        assert!(!ErrorCode::ALL.contains(&ErrorCode::Unknown));
    }

    #[test]
    fn an_unknown_code_from_a_newer_peer_still_reads() {
        let b: ErrorBody =
            serde_json::from_str(r#"{"error":"something_new","message":"m"}"#).expect("parse");
        assert_eq!(b.error, ErrorCode::Unknown);
        let b = ErrorBody {
            error: ErrorCode::Fork,
            message: "x".into(),
        };
        assert_eq!(
            serde_json::to_string(&b).expect("json"),
            r#"{"error":"fork","message":"x"}"#
        );
    }

    #[test]
    fn health_reports_carry_the_report_as_its_entry_body_does() {
        let report = LinkReported {
            parent: "652800".parse().expect("code"),
            up: crate::body::LinkDirection::default(),
            down: crate::body::LinkDirection::default(),
            consecutive_failures: 0,
            last_error: String::new(),
            cert_expires_ms: None,
            peer_version: Some(1),
        };
        let body = HealthReports {
            reports: vec![LinkReport {
                node: "652822".parse().expect("code"),
                reported_ms: 7,
                report: report.clone(),
            }],
        };
        let json = serde_json::to_value(&body).expect("json");
        assert_eq!(json["reports"][0]["node"], "652822");
        assert_eq!(
            json["reports"][0]["report"],
            serde_json::to_value(&report).expect("json")
        );
        let back: HealthReports = serde_json::from_value(json).expect("parse");
        assert_eq!(back, body);
        assert!(serde_json::from_str::<HealthReports>(r#"{"reports":[],"x":1}"#).is_err());
    }

    #[test]
    fn the_down_query_refuses_what_it_does_not_know() {
        let q: DownQuery = serde_json::from_str(r#"{"after":3}"#).expect("parse");
        assert_eq!(q.wait_ms, 0);
        assert!(serde_json::from_str::<DownQuery>(r#"{"after":3,"x":1}"#).is_err());
    }
}
