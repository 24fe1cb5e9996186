//! 办理: the officers' money forms. Record funds received, issue an
//! allocation to a child (the source chosen by 文号, its available balance
//! shown), an own budget, a payment, reverse a payment, add a fund category.
//!
//! Each form is shown only to the roles that hold its route's permission,
//! and each records through the same ledger calls as the API (the
//! allocation through `api::NewAllocation`, so its category default and
//! scope check are the API's). A money form goes form → confirmation page
//! (元 exact and 万元, the parties, the 文号; 确认 / 返回修改) → record; the
//! ledger's rules run on a rehearsal before the confirmation is shown, and
//! again when it records. A refusal is shown in Chinese next to its field
//! and records nothing.
//!
//! Every rendered form carries a random key (`form_key`): what a confirmed
//! form records is stored under the key in the same transaction
//! (`Ledger::submit_keyed`), so a refresh or a double click records once,
//! and any later POST with the key is sent to the first result.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::NaiveDate;
use fundsync_protocol::body::{
    BodyError, CategoryDefined, FundsReceived, OwnBudgetAdded, PaymentRecorded, PaymentReversed,
};
use fundsync_protocol::money::AmountError;
use fundsync_protocol::{Amount, Body, EntryId, ErrorCode, FundOrigin, NodeCode};
use maud::{html, Markup};
use rust_decimal::Decimal;

use super::form::{field, hidden, post_form, Field, FieldError, InputKind};
use super::layout::{page, Chrome, Nav};
use super::text::{wan, yuan, Lang};
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::accounts::User;
use crate::api::NewAllocation;
use crate::http::auth::see_other;
use crate::http::{Acting, ApiError, AppState, Routes};
use crate::ledger::form_keys::{FORM_KEY_BYTES_MAX, FORM_KEY_TTL_MS};
use crate::ledger::query::{AllocationFilter, Page, PAGE_SIZE_MAX};
use crate::ledger::{FormKey, Keyed, LedgerError};

type S = State<Arc<AppState>>;

/// The hidden field that carries a form's idempotency key.
pub const KEY_FIELD: &str = "form_key";
/// The field the confirmation page's buttons set: `confirm` or `edit`.
const STEP_FIELD: &str = "step";

/// The forms, each with its route's permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desk {
    FundsReceived,
    OwnBudget,
    Allocation,
    Payment,
    Reversal,
    Category,
}

impl Desk {
    pub const ALL: [Desk; 6] = [
        Desk::FundsReceived,
        Desk::OwnBudget,
        Desk::Allocation,
        Desk::Payment,
        Desk::Reversal,
        Desk::Category,
    ];

    /// The form's path under `/desk/`, and its name in `form_keys`.
    pub fn slug(self) -> &'static str {
        match self {
            Desk::FundsReceived => "funds-received",
            Desk::OwnBudget => "own-budget",
            Desk::Allocation => "allocation",
            Desk::Payment => "payment",
            Desk::Reversal => "reversal",
            Desk::Category => "category",
        }
    }

    pub fn path(self) -> String {
        format!("/desk/{}", self.slug())
    }

    fn of_slug(s: &str) -> Option<Desk> {
        Desk::ALL.into_iter().find(|d| d.slug() == s)
    }

    /// The same permission as the API's route for the same entry.
    pub fn permission(self) -> Permission {
        match self {
            Desk::FundsReceived | Desk::OwnBudget => Permission::RecordFunds,
            Desk::Allocation => Permission::Allocate,
            Desk::Payment | Desk::Reversal => Permission::Pay,
            Desk::Category => Permission::ManageNodes,
        }
    }

    pub fn title(self, l: Lang) -> &'static str {
        match self {
            Desk::FundsReceived => l.t("登记到账资金", "Record funds received"),
            Desk::OwnBudget => l.t("本级预算", "Own budget"),
            Desk::Allocation => l.t("下达指标", "Issue an allocation"),
            Desk::Payment => l.t("登记支付", "Record a payment"),
            Desk::Reversal => l.t("冲销支付", "Reverse a payment"),
            Desk::Category => l.t("新增资金类别", "Add a fund category"),
        }
    }

    fn about(self, l: Lang) -> &'static str {
        match self {
            Desk::FundsReceived => l.t(
                "顶层节点登记中央下达的资金（来源文件）。",
                "The top node records money from the centre (a source document).",
            ),
            Desk::OwnBudget => l.t(
                "本级安排的预算，可支付或向下级下达。",
                "Money this level budgets itself, to pay or issue down.",
            ),
            Desk::Allocation => l.t(
                "从本节点持有的指标中分配下达给直接下级，按文号选择来源指标。",
                "Carve an allocation for a direct child from one this node holds, chosen by document number.",
            ),
            Desk::Payment => l.t(
                "登记一张国库集中支付凭证，按文号选择所用指标。",
                "Record a treasury payment voucher against an allocation chosen by document number.",
            ),
            Desk::Reversal => l.t(
                "全额冲销一笔支付；原支付保留，冲销为一条新记录。",
                "Reverse a payment in full; the payment stays, the reversal is a new entry.",
            ),
            Desk::Category => l.t(
                "在资金目录中增加本节点的资金类别。",
                "Add a fund category of this node's to the catalog.",
            ),
        }
    }

    /// Money forms show a confirmation page before they record.
    fn confirms(self) -> bool {
        self != Desk::Category
    }

    fn fields(self) -> &'static [Spec] {
        match self {
            Desk::FundsReceived => &FUNDS_FIELDS,
            Desk::OwnBudget => &OWN_FIELDS,
            Desk::Allocation => &ALLOCATION_FIELDS,
            Desk::Payment => &PAYMENT_FIELDS,
            Desk::Reversal => &REVERSAL_FIELDS,
            Desk::Category => &CATEGORY_FIELDS,
        }
    }

    /// The field a refused allocation or voucher reference belongs to.
    fn allocation_field(self) -> &'static str {
        match self {
            Desk::Payment => "allocation",
            _ => "source",
        }
    }

    /// The field of the form's natural key (document or voucher number).
    fn key_field(self) -> &'static str {
        match self {
            Desk::Payment | Desk::Reversal => "voucher_no",
            Desk::Category => "code",
            _ => "doc_no",
        }
    }
}

/// How a field is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Date,
    /// Yuan, exact to the fen.
    Amount,
    Select(Choice),
}

/// Where a select's options come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Category,
    /// A category, or "the source's" (empty).
    SourceCategory,
    Child,
    /// Allocations held here with money left, by 文号.
    Held,
    Project,
    Origin,
    YesNo,
}

/// A field of a form: its name (the body's field name), label, editor and
/// whether it must be filled.
#[derive(Debug, Clone, Copy)]
struct Spec {
    name: &'static str,
    zh: &'static str,
    en: &'static str,
    kind: Kind,
    required: bool,
}

const fn spec(name: &'static str, zh: &'static str, en: &'static str, kind: Kind) -> Spec {
    Spec {
        name,
        zh,
        en,
        kind,
        required: true,
    }
}

const fn optional(s: Spec) -> Spec {
    Spec {
        required: false,
        ..s
    }
}

const DOC_NO: Spec = spec("doc_no", "文号", "Document number", Kind::Text);
const AMOUNT: Spec = spec("amount", "金额（元）", "Amount (yuan)", Kind::Amount);
const TITLE: Spec = optional(spec("title", "标题", "Title", Kind::Text));
const CATEGORY: Spec = spec(
    "category",
    "资金类别",
    "Fund category",
    Kind::Select(Choice::Category),
);

const FUNDS_FIELDS: [Spec; 6] = [
    DOC_NO,
    CATEGORY,
    AMOUNT,
    spec("received_on", "到账日期", "Received on", Kind::Date),
    optional(spec(
        "source",
        "来源单位（如 财政部）",
        "From (e.g. the Ministry of Finance)",
        Kind::Text,
    )),
    TITLE,
];

const OWN_FIELDS: [Spec; 5] = [
    DOC_NO,
    CATEGORY,
    AMOUNT,
    spec("budgeted_on", "安排日期", "Budgeted on", Kind::Date),
    TITLE,
];

const ALLOCATION_FIELDS: [Spec; 7] = [
    spec(
        "source",
        "来源指标（按文号，显示可用余额）",
        "Source allocation (by document number, with its available balance)",
        Kind::Select(Choice::Held),
    ),
    spec("to", "下达给", "Issue to", Kind::Select(Choice::Child)),
    AMOUNT,
    DOC_NO,
    spec("issued_on", "下达日期", "Issued on", Kind::Date),
    optional(spec(
        "category",
        "资金类别",
        "Fund category",
        Kind::Select(Choice::SourceCategory),
    )),
    TITLE,
];

const PAYMENT_FIELDS: [Spec; 11] = [
    spec(
        "allocation",
        "指标（按文号，显示可用余额）",
        "Allocation (by document number, with its available balance)",
        Kind::Select(Choice::Held),
    ),
    spec("project", "项目", "Project", Kind::Select(Choice::Project)),
    spec("voucher_no", "凭证号", "Voucher number", Kind::Text),
    spec("paid_on", "支付日期", "Paid on", Kind::Date),
    AMOUNT,
    spec("payer", "付款单位", "Payer", Kind::Text),
    spec("payee_name", "收款人", "Payee", Kind::Text),
    optional(spec(
        "payee_account",
        "收款账号",
        "Payee account",
        Kind::Text,
    )),
    optional(spec("payee_bank", "开户行", "Payee bank", Kind::Text)),
    optional(spec(
        "function_class",
        "支出功能分类",
        "Function class",
        Kind::Text,
    )),
    optional(spec("purpose", "用途", "Purpose", Kind::Text)),
];

const REVERSAL_FIELDS: [Spec; 3] = [
    spec("voucher_no", "凭证号", "Voucher number", Kind::Text),
    spec("reversed_on", "冲销日期", "Reversed on", Kind::Date),
    spec("reason", "冲销原因", "Reason", Kind::Text),
];

const CATEGORY_FIELDS: [Spec; 5] = [
    spec("code", "类别代码", "Code", Kind::Text),
    spec("name", "类别名称", "Name", Kind::Text),
    spec(
        "origin",
        "资金来源",
        "Fund origin",
        Kind::Select(Choice::Origin),
    ),
    optional(spec("department", "归口科室", "Department", Kind::Text)),
    spec(
        "classified",
        "涉密",
        "Classified",
        Kind::Select(Choice::YesNo),
    ),
];

/// The pages' routes for the forms, added to the other pages.
pub fn routes(r: Routes) -> Routes {
    let mut r = r.get("/desk", Permission::SignedIn, index).get(
        "/desk/done/{key}",
        Permission::SignedIn,
        done,
    );
    for d in Desk::ALL {
        r = match d {
            Desk::FundsReceived => r.get(&d.path(), d.permission(), show_funds).post(
                &d.path(),
                d.permission(),
                post_funds,
            ),
            Desk::OwnBudget => {
                r.get(&d.path(), d.permission(), show_own)
                    .post(&d.path(), d.permission(), post_own)
            }
            Desk::Allocation => r.get(&d.path(), d.permission(), show_allocation).post(
                &d.path(),
                d.permission(),
                post_allocation,
            ),
            Desk::Payment => r.get(&d.path(), d.permission(), show_payment).post(
                &d.path(),
                d.permission(),
                post_payment,
            ),
            Desk::Reversal => r.get(&d.path(), d.permission(), show_reversal).post(
                &d.path(),
                d.permission(),
                post_reversal,
            ),
            Desk::Category => r.get(&d.path(), d.permission(), show_category).post(
                &d.path(),
                d.permission(),
                post_category,
            ),
        };
    }
    r
}

// One handler pair per form (axum needs a function per route).
async fn show_funds(ctx: Ctx, s: S) -> Response {
    show(Desk::FundsReceived, ctx, s).await
}
async fn post_funds(ctx: Ctx, s: S, a: Acting, f: Form<Vec<(String, String)>>) -> Response {
    submit(Desk::FundsReceived, ctx, s, a, f).await
}
async fn show_own(ctx: Ctx, s: S) -> Response {
    show(Desk::OwnBudget, ctx, s).await
}
async fn post_own(ctx: Ctx, s: S, a: Acting, f: Form<Vec<(String, String)>>) -> Response {
    submit(Desk::OwnBudget, ctx, s, a, f).await
}
async fn show_allocation(ctx: Ctx, s: S) -> Response {
    show(Desk::Allocation, ctx, s).await
}
async fn post_allocation(ctx: Ctx, s: S, a: Acting, f: Form<Vec<(String, String)>>) -> Response {
    submit(Desk::Allocation, ctx, s, a, f).await
}
async fn show_payment(ctx: Ctx, s: S) -> Response {
    show(Desk::Payment, ctx, s).await
}
async fn post_payment(ctx: Ctx, s: S, a: Acting, f: Form<Vec<(String, String)>>) -> Response {
    submit(Desk::Payment, ctx, s, a, f).await
}
async fn show_reversal(ctx: Ctx, s: S) -> Response {
    show(Desk::Reversal, ctx, s).await
}
async fn post_reversal(ctx: Ctx, s: S, a: Acting, f: Form<Vec<(String, String)>>) -> Response {
    submit(Desk::Reversal, ctx, s, a, f).await
}
async fn show_category(ctx: Ctx, s: S) -> Response {
    show(Desk::Category, ctx, s).await
}
async fn post_category(ctx: Ctx, s: S, a: Acting, f: Form<Vec<(String, String)>>) -> Response {
    submit(Desk::Category, ctx, s, a, f).await
}

/// A form's values as sent (or to show).
#[derive(Debug, Default, Clone)]
pub struct Values(Vec<(String, String)>);

impl Values {
    pub fn new(pairs: Vec<(String, String)>) -> Values {
        Values(pairs)
    }

    /// The last value of `key`, trimmed; empty when absent.
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.trim())
    }

    fn set(&mut self, key: &str, value: &str) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_owned(), value.to_owned()));
    }
}

/// Why a form was refused: errors by field, and one for the whole form.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problems {
    pub fields: BTreeMap<&'static str, FieldError>,
    pub form: Option<FieldError>,
}

impl Problems {
    fn field(name: &'static str, e: FieldError) -> Problems {
        let mut p = Problems::default();
        p.fields.insert(name, e);
        p
    }

    fn whole(e: FieldError) -> Problems {
        Problems {
            form: Some(e),
            ..Problems::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }
}

/// A new form key: when it was issued (ms) and 128 random bits.
pub fn new_key(now_ms: i64) -> String {
    let bytes: [u8; 16] = rand::random();
    format!("{now_ms}-{}", hex::encode(bytes))
}

/// Whether `key` is one this node could have issued no longer than a key
/// holds ago (so its row, if any, has not been pruned).
pub fn key_fresh(key: &str, now_ms: i64) -> bool {
    let Some((ms, rand)) = key.split_once('-') else {
        return false;
    };
    let Ok(ms) = ms.parse::<i64>() else {
        return false;
    };
    key.len() <= FORM_KEY_BYTES_MAX
        && rand.len() == 32
        && rand.bytes().all(|b| b.is_ascii_hexdigit())
        && ms <= now_ms.saturating_add(60_000)
        && now_ms.saturating_sub(ms) < FORM_KEY_TTL_MS
}

/// An amount as typed: yuan, thousands separators allowed.
pub fn parse_amount(s: &str) -> Result<Amount, FieldError> {
    let t: String = s.chars().filter(|c| *c != ',' && *c != '，').collect();
    t.trim().parse::<Amount>().map_err(|e| match e {
        AmountError::NotANumber(_) => FieldError::new(
            "请输入金额（元），如 1234.56",
            "Enter an amount in yuan, like 1234.56",
        ),
        AmountError::NotPositive(_) => {
            FieldError::new("金额必须大于零", "The amount must be above zero")
        }
        AmountError::TooPrecise(_) => FieldError::new(
            "金额最多两位小数（精确到分）",
            "At most two decimals (the fen)",
        ),
        AmountError::TooLarge(_) | AmountError::Overflow => {
            FieldError::new("金额超过上限", "The amount is above the limit")
        }
    })
}

fn parse_date(s: &str) -> Result<NaiveDate, FieldError> {
    s.parse().map_err(|_| {
        FieldError::new(
            "请输入日期（年-月-日），如 2020-06-30",
            "Enter a date (year-month-day), like 2020-06-30",
        )
    })
}

fn required() -> FieldError {
    FieldError::new("必填", "Required")
}

fn choose() -> FieldError {
    FieldError::new("请选择", "Choose one")
}

/// What a form asks the ledger to record.
#[derive(Debug)]
pub(crate) enum Ask {
    Body(Body),
    /// The API's allocation request (category default, scope check).
    Allocation(NewAllocation),
}

/// Reads a form's values into what it asks for, or every field's problem.
/// Text rules (lengths, control characters) are the bodies' own
/// (`Body::validate`, run by the ledger); this checks what must be filled
/// and parses figures, dates and choices.
pub(crate) fn parse(desk: Desk, v: &Values) -> Result<Ask, Problems> {
    let mut p = Problems::default();
    for s in desk.fields() {
        if s.required && v.get(s.name).is_empty() {
            let e = match s.kind {
                Kind::Select(_) => choose(),
                _ => required(),
            };
            p.fields.insert(s.name, e);
        }
    }
    let text = |name: &str| v.get(name).to_owned();
    let mut amount = None;
    let mut dates: BTreeMap<&'static str, NaiveDate> = BTreeMap::new();
    for s in desk.fields() {
        let raw = v.get(s.name);
        if raw.is_empty() {
            continue;
        }
        match s.kind {
            Kind::Amount => match parse_amount(raw) {
                Ok(a) => amount = Some(a),
                Err(e) => {
                    p.fields.insert(s.name, e);
                }
            },
            Kind::Date => match parse_date(raw) {
                Ok(d) => {
                    dates.insert(s.name, d);
                }
                Err(e) => {
                    p.fields.insert(s.name, e);
                }
            },
            _ => {}
        }
    }
    let entry = |p: &mut Problems, name: &'static str| -> Option<EntryId> {
        let raw = v.get(name);
        match raw.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                if !raw.is_empty() {
                    p.fields.insert(name, choose());
                }
                None
            }
        }
    };
    let ask = match desk {
        Desk::FundsReceived => amount.zip(dates.get("received_on")).map(|(a, d)| {
            Ask::Body(Body::FundsReceived(FundsReceived {
                doc_no: text("doc_no"),
                category: text("category"),
                amount: a,
                received_on: *d,
                source: text("source"),
                title: text("title"),
            }))
        }),
        Desk::OwnBudget => amount.zip(dates.get("budgeted_on")).map(|(a, d)| {
            Ask::Body(Body::OwnBudgetAdded(OwnBudgetAdded {
                doc_no: text("doc_no"),
                category: text("category"),
                amount: a,
                budgeted_on: *d,
                title: text("title"),
            }))
        }),
        Desk::Allocation => {
            let source = entry(&mut p, "source");
            let to = match v.get("to") {
                "" => None,
                raw => match raw.parse::<NodeCode>() {
                    Ok(c) => Some(c),
                    Err(_) => {
                        p.fields.insert("to", choose());
                        None
                    }
                },
            };
            match (source, to, amount, dates.get("issued_on")) {
                (Some(source), Some(to), Some(amount), Some(d)) => {
                    Some(Ask::Allocation(NewAllocation {
                        doc_no: text("doc_no"),
                        source,
                        to,
                        amount,
                        issued_on: *d,
                        category: Some(text("category")).filter(|c| !c.is_empty()),
                        title: text("title"),
                    }))
                }
                _ => None,
            }
        }
        Desk::Payment => {
            let allocation = entry(&mut p, "allocation");
            match (allocation, amount, dates.get("paid_on")) {
                (Some(allocation), Some(amount), Some(d)) => {
                    Some(Ask::Body(Body::PaymentRecorded(PaymentRecorded {
                        voucher_no: text("voucher_no"),
                        paid_on: *d,
                        payer: text("payer"),
                        payee_name: text("payee_name"),
                        payee_account: text("payee_account"),
                        payee_bank: text("payee_bank"),
                        amount,
                        function_class: text("function_class"),
                        allocation,
                        project: text("project"),
                        purpose: text("purpose"),
                    })))
                }
                _ => None,
            }
        }
        Desk::Reversal => dates.get("reversed_on").map(|d| {
            Ask::Body(Body::PaymentReversed(PaymentReversed {
                voucher_no: text("voucher_no"),
                reversed_on: *d,
                reason: text("reason"),
            }))
        }),
        Desk::Category => {
            let origin = match v.get("origin") {
                "" => None,
                raw => match raw.parse::<FundOrigin>() {
                    Ok(o) => Some(o),
                    Err(_) => {
                        p.fields.insert("origin", choose());
                        None
                    }
                },
            };
            let classified = match v.get("classified") {
                "yes" => Some(true),
                "no" => Some(false),
                "" => None,
                _ => {
                    p.fields.insert("classified", choose());
                    None
                }
            };
            origin.zip(classified).map(|(origin, classified)| {
                Ask::Body(Body::CategoryDefined(CategoryDefined {
                    code: text("code"),
                    name: text("name"),
                    origin,
                    department: text("department"),
                    classified,
                }))
            })
        }
    };
    match ask {
        Some(a) if p.is_empty() => Ok(a),
        _ => Err(p),
    }
}

/// A refused body or entry, in Chinese (and English) by the field it is
/// about; `None` for the node's own failures (an error page).
pub fn ledger_problems(desk: Desk, e: &LedgerError) -> Option<Problems> {
    use LedgerError as E;
    let f = |name: &'static str, zh: String, en: String| {
        Some(Problems::field(name, FieldError::new(zh, en)))
    };
    let en = e.to_string();
    match e {
        E::Body(BodyError::Empty { field }) => f(field, "必填".into(), en),
        E::Body(BodyError::TooLong { field, max }) => f(field, format!("不能超过 {max} 个字"), en),
        E::Body(BodyError::Control { field }) => f(field, "不能含控制字符".into(), en),
        E::Body(_) => Some(Problems::whole(FieldError::new(
            format!("内容有误：{en}"),
            en,
        ))),
        E::UnknownCategory(_) => f("category", "没有这个资金类别".into(), en),
        E::CategoryOrigin { expected, .. } => {
            f("category", format!("此处资金类别的来源须为 {expected}"), en)
        }
        E::CategoryExists(_) => f("code", "该类别代码已存在，且内容不同".into(), en),
        E::UnknownAllocation(_) => f(desk.allocation_field(), "没有这个指标".into(), en),
        E::NotHolder { .. } => f(desk.allocation_field(), "该指标不由本节点持有".into(), en),
        E::CategoryMismatch {
            source_category, ..
        } => f(
            "category",
            format!("资金类别须与来源指标相同（{source_category}）"),
            en,
        ),
        E::OverAllocation {
            available,
            requested,
            ..
        } => f(
            "amount",
            format!(
                "超出可用余额：来源指标可用 {} 元（{} 万元），本次 {} 元",
                yuan(*available),
                wan(*available),
                yuan(*requested)
            ),
            en,
        ),
        E::OverBalance {
            available,
            requested,
            ..
        } => f(
            "amount",
            format!(
                "超出指标余额：可用 {} 元（{} 万元），本次 {} 元",
                yuan(*available),
                wan(*available),
                yuan(*requested)
            ),
            en,
        ),
        E::NotAChild { .. } => f("to", "只能下达给本节点的直接下级".into(), en),
        E::NoChildren => f("to", "县级节点没有下级".into(), en),
        E::NotTopNode => Some(Problems::whole(FieldError::new(
            "只有顶层节点（自治区）登记中央到账资金",
            en,
        ))),
        E::Conflict { .. } | E::DuplicateVoucher(_) | E::NodeExists(_) => f(
            desk.key_field(),
            "此编号已登记，且内容不同；请核对或换用新的编号".into(),
            en,
        ),
        E::UnknownProject(_) => f("project", "没有这个项目".into(), en),
        E::NoTarget(_) => f("project", "该项目尚无绩效目标，不能安排资金".into(), en),
        E::TargetsNotApproved {
            unapproved, total, ..
        } => f(
            "project",
            format!("该项目有 {unapproved} 项绩效目标尚未批复（共 {total} 项），不能安排资金"),
            en,
        ),
        E::ProjectCancelled(_) => f("project", "项目已取消，不能安排资金".into(), en),
        E::UnknownVoucher(_) => f("voucher_no", "本节点没有这张凭证".into(), en),
        E::AlreadyReversed(_) => f("voucher_no", "该支付已冲销".into(), en),
        E::DateOutOfRange {
            field, from, to, ..
        } => f(field, format!("日期须在 {from} 至 {to} 之间"), en),
        E::PaidBeforeAllocation { dated, .. } => f(
            "paid_on",
            format!("支付日期早于所用指标的日期（{dated}）"),
            en,
        ),
        E::ReversedBeforePayment { paid_on, .. } => f(
            "reversed_on",
            format!("冲销日期早于支付日期（{paid_on}）"),
            en,
        ),
        E::IssuedBeforeSource { dated, .. } => f(
            "issued_on",
            format!("下达日期早于来源指标的日期（{dated}）"),
            en,
        ),
        E::Overflow => f("amount", "金额合计溢出".into(), en),
        E::OutsideDivision { .. } => f("to", "不在本节点辖区内".into(), en),
        E::UnknownTarget(_)
        | E::UnknownWarning(_)
        | E::WarningNode { .. }
        | E::Misdirected { .. }
        | E::WarningResolved(_)
        | E::NotAssigned(_)
        | E::NotYetHeld { .. }
        | E::NotPublishable { .. }
        | E::UnknownSubmission(_)
        | E::SubmissionProject { .. }
        | E::NotOwnTarget(_)
        | E::TargetNotPending { .. }
        | E::TargetNotReviewed { .. }
        | E::AlreadyApproved { .. }
        | E::UnknownEvaluation(_)
        | E::NotIncludable { .. }
        | E::NotInSample { .. }
        | E::UnknownSpotCheck(_)
        | E::ReportFigures(_)
        | E::NotProjectTarget { .. }
        | E::ShortfallUnexplained
        | E::ConformingFinding(_) => Some(Problems::whole(FieldError::new(
            format!("无法登记：{en}"),
            en,
        ))),
        E::Restored(r) => Some(Problems::whole(FieldError::new(r.zh(), en))),
        E::NoBalance { as_of, .. } => f(
            desk.allocation_field(),
            format!("该指标截至 {as_of} 没有尚未说明的结余"),
            en,
        ),
        E::OverCarryOver {
            balance,
            explained,
            requested,
            ..
        } => f(
            "amount",
            format!(
                "超出结余：结余 {} 元，已说明 {} 元，本次 {} 元",
                yuan(*balance),
                yuan(*explained),
                yuan(*requested)
            ),
            en,
        ),
        E::PlannedBeforeAsOf { as_of, .. } => f(
            "planned_on",
            format!("计划支付日期早于结余日期（{as_of}）"),
            en,
        ),
        E::NotRecallable(_) => f(
            desk.allocation_field(),
            "该指标不是上级下达的（本级预算或中央来款），无从收回".into(),
            en,
        ),
        E::OverRecall {
            available,
            requested,
            ..
        } => f(
            "amount",
            format!(
                "超出未支出余额：可收回 {} 元（{} 万元），本次 {} 元",
                yuan(*available),
                wan(*available),
                yuan(*requested)
            ),
            en,
        ),
        E::RecalledBeforeAllocation { dated, .. } => f(
            "recalled_on",
            format!("收回日期早于指标的日期（{dated}）"),
            en,
        ),
        E::WrongNode { .. } | E::NotInitialised | E::Store(_) => None,
    }
}

/// A refusal of the API's allocation request (before the ledger): the
/// source is unknown, or the category is outside the officer's scope.
fn api_problems(desk: Desk, e: &ApiError) -> Option<Problems> {
    let en = e.message().to_owned();
    match e.code() {
        ErrorCode::UnknownAllocation => Some(Problems::field(
            desk.allocation_field(),
            FieldError::new("没有这个指标", en),
        )),
        ErrorCode::Forbidden => Some(Problems::field(
            "source",
            FieldError::new(
                "无权办理此资金类别：不属于您的归口科室，或您未获涉密资金授权",
                en,
            ),
        )),
        ErrorCode::Internal => None,
        _ => Some(Problems::whole(FieldError::new(
            format!("无法登记：{en}"),
            en,
        ))),
    }
}

/// The options of the form's selects, and the node's names.
#[derive(Debug, Default)]
pub struct Choices {
    /// (code, "code name").
    pub categories: Vec<(String, String)>,
    pub children: Vec<(String, String)>,
    /// Allocations held here with money left: (id, "文号 · 标题 · 可用 …").
    pub held: Vec<(String, String)>,
    pub projects: Vec<(String, String)>,
    pub today: String,
    pub node_name: String,
}

impl Choices {
    fn options(&self, c: Choice, l: Lang) -> Vec<(String, String)> {
        let pick = (String::new(), l.t("（请选择）", "(choose)").to_owned());
        let list = |v: &[(String, String)]| -> Vec<(String, String)> {
            std::iter::once(pick.clone())
                .chain(v.iter().cloned())
                .collect()
        };
        match c {
            Choice::Category => list(&self.categories),
            Choice::SourceCategory => std::iter::once((
                String::new(),
                l.t("（与来源指标相同）", "(the source's)").to_owned(),
            ))
            .chain(self.categories.iter().cloned())
            .collect(),
            Choice::Child => list(&self.children),
            Choice::Held => list(&self.held),
            Choice::Project => list(&self.projects),
            Choice::Origin => std::iter::once(pick.clone())
                .chain(
                    FundOrigin::ALL
                        .iter()
                        .map(|o| (o.as_str().to_owned(), l.fund_origin(o.as_str()).to_owned())),
                )
                .collect(),
            Choice::YesNo => vec![
                ("no".to_owned(), l.t("否", "No").to_owned()),
                (
                    "yes".to_owned(),
                    l.t("是（涉密）", "Yes (classified)").to_owned(),
                ),
            ],
        }
    }

    /// The text of the chosen option, for the confirmation page.
    fn shown(&self, c: Choice, l: Lang, value: &str) -> String {
        self.options(c, l)
            .into_iter()
            .find(|(v, _)| v == value)
            .map_or_else(|| value.to_owned(), |(_, t)| t)
    }
}

/// The choices a form needs, narrowed to what the reader may see.
async fn choices(desk: Desk, s: &AppState, u: &User, l: Lang) -> Result<Choices, WebError> {
    let ledger = &s.ledger;
    let me = ledger.identity();
    let mut c = Choices {
        today: ledger.clock().today().to_string(),
        node_name: me.name.clone(),
        ..Choices::default()
    };
    let fields = desk.fields();
    let wants = |x: Choice| fields.iter().any(|f| f.kind == Kind::Select(x));
    let cats = ledger.categories().await?;
    let names: BTreeMap<&str, &str> = cats
        .iter()
        .map(|c| (c.code.as_str(), c.name.as_str()))
        .collect();
    if wants(Choice::Category) || wants(Choice::SourceCategory) {
        let seen = u.visible_categories(ledger).await?;
        c.categories = cats
            .iter()
            .filter(|k| seen.as_ref().is_none_or(|s| s.contains(&k.code)))
            .filter(|k| crate::catalog::offered(&me.code, &k.code, k.defined_by.as_deref()))
            .map(|k| (k.code.clone(), format!("{} {}", k.code, k.name)))
            .collect();
    }
    if wants(Choice::Child) {
        c.children = ledger
            .nodes()
            .await?
            .into_iter()
            .filter(|n| n.parent.as_deref() == Some(me.code.as_str()))
            .map(|n| (n.code.clone(), format!("{} {}", n.name, n.code)))
            .collect();
    }
    if wants(Choice::Held) {
        let filter = AllocationFilter {
            holder: Some(me.code),
            categories: u.visible_categories(ledger).await?,
            ..AllocationFilter::default()
        };
        let page = Page {
            page: 1,
            page_size: PAGE_SIZE_MAX,
        };
        c.held = ledger
            .allocations(filter, page)
            .await?
            .items
            .into_iter()
            .filter(|a| a.available > Decimal::ZERO)
            .map(|a| {
                let cat = names.get(a.category.as_str()).copied().unwrap_or("");
                let title = if a.title.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", a.title)
                };
                let text = format!(
                    "{}{title} · {cat} · {} {} {}（{} {}）",
                    a.doc_no,
                    l.t("可用", "available"),
                    yuan(a.available),
                    l.t("元", "yuan"),
                    wan(a.available),
                    l.t("万元", "× 10,000 yuan"),
                );
                (a.id, text)
            })
            .collect();
    }
    if wants(Choice::Project) {
        c.projects = ledger
            .projects(
                Some(me.code),
                Page {
                    page: 1,
                    page_size: PAGE_SIZE_MAX,
                },
            )
            .await?
            .items
            .into_iter()
            .map(|p| (p.code.clone(), format!("{} {}", p.code, p.name)))
            .collect();
    }
    Ok(c)
}

/// What a form page shows: the values, the key, the problems.
#[derive(Debug)]
pub struct FormView<'a> {
    pub desk: Desk,
    pub values: &'a Values,
    pub key: &'a str,
    pub problems: &'a Problems,
    pub choices: &'a Choices,
}

/// A form, with each field's error next to it and the form's own above.
pub fn render_form(c: &Chrome, v: &FormView<'_>) -> Markup {
    let l = c.lang;
    let csrf = c.who.as_ref().map_or("", |w| w.csrf.as_str());
    let body = html! {
        p class="sub" { (v.desk.about(l)) }
        @if let Some(e) = &v.problems.form {
            div class="note bad" role="alert" id="form-error" { (e.text(l)) }
        }
        div class="card" {
            (post_form(&v.desk.path(), csrf, html! {
                (hidden(KEY_FIELD, v.key))
                div class="stack desk" {
                    @for s in v.desk.fields() {
                        (one_field(l, s, v))
                    }
                    div {
                        button type="submit" {
                            @if v.desk.confirms() { (l.t("下一步：核对", "Next: check")) }
                            @else { (l.t("提交", "Submit")) }
                        }
                        " "
                        a href="/desk" { (l.t("取消", "Cancel")) }
                    }
                }
            }))
        }
    };
    page(c, Nav::Desk, v.desk.title(l), body)
}

fn one_field(l: Lang, s: &Spec, v: &FormView<'_>) -> Markup {
    let label = l.t(s.zh, s.en);
    let value = v.values.get(s.name);
    let error = v.problems.fields.get(s.name);
    match s.kind {
        Kind::Select(choice) => {
            let owned = v.choices.options(choice, l);
            let options: Vec<(&str, &str)> = owned
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            let mut f = Field::select(s.name, label, &options)
                .value(value)
                .error(error);
            if s.required {
                f = f.required();
            }
            field(l, &f)
        }
        kind => {
            let input = match kind {
                Kind::Date => InputKind::Date,
                _ => InputKind::Text,
            };
            let mut f = Field::input(s.name, label, input).value(value).error(error);
            if s.required {
                f = f.required();
            }
            field(l, &f)
        }
    }
}

/// The confirmation page: what will be recorded, 元 exact and 万元, the
/// parties and the 文号, with 确认 and 返回修改; the values ride along as
/// hidden fields with the same key.
pub fn render_confirm(c: &Chrome, v: &FormView<'_>) -> Markup {
    let l = c.lang;
    let csrf = c.who.as_ref().map_or("", |w| w.csrf.as_str());
    let ch = v.choices;
    let parties = match v.desk {
        Desk::FundsReceived => Some((v.values.get("source").to_owned(), ch.node_name.clone())),
        Desk::Allocation => Some((
            ch.node_name.clone(),
            ch.shown(Choice::Child, l, v.values.get("to")),
        )),
        Desk::Payment => Some((
            v.values.get("payer").to_owned(),
            v.values.get("payee_name").to_owned(),
        )),
        _ => None,
    };
    let body = html! {
        div class="note" role="status" {
            (l.t("请核对以下内容。点击“确认”后登记；登记后不能修改，更正需另行冲销。",
                "Check what follows. 确认 records it; a record is never edited, a correction is a new entry."))
        }
        div class="card confirm" {
            dl class="grid" {
                @if let Some((from, to)) = &parties {
                    dt { (l.t("付出方", "From")) } dd { (from) }
                    dt { (l.t("接收方", "To")) } dd { (to) }
                }
                @for s in v.desk.fields() {
                    @let raw = v.values.get(s.name);
                    dt { (l.t(s.zh, s.en)) }
                    dd {
                        @match s.kind {
                            Kind::Amount => {
                                @match parse_amount(raw) {
                                    Ok(a) => {
                                        span class="amount" id="confirm-yuan" { (yuan(a.yuan())) " " (l.t("元", "yuan")) }
                                        " （" span id="confirm-wan" { (wan(a.yuan())) } " " (l.t("万元", "× 10,000 yuan")) "）"
                                    }
                                    Err(_) => { (raw) }
                                }
                            }
                            Kind::Select(choice) => {
                                @if raw.is_empty() && choice == Choice::SourceCategory {
                                    (l.t("与来源指标相同", "the source's"))
                                } @else {
                                    (ch.shown(choice, l, raw))
                                }
                            }
                            _ => { (if raw.is_empty() { "—" } else { raw }) }
                        }
                    }
                }
            }
        }
        (post_form(&v.desk.path(), csrf, html! {
            (hidden(KEY_FIELD, v.key))
            @for s in v.desk.fields() {
                (hidden(s.name, v.values.get(s.name)))
            }
            button type="submit" name=(STEP_FIELD) value="confirm" id="confirm" { (l.t("确认", "Confirm")) }
            " "
            button type="submit" name=(STEP_FIELD) value="edit" id="edit" class="secondary" { (l.t("返回修改", "Back to edit")) }
        }))
    };
    let title = format!("{} · {}", v.desk.title(l), l.t("核对", "check"));
    page(c, Nav::Desk, &title, body)
}

/// The signed-in person, or the error page's reason.
fn user_of(ctx: &Ctx) -> Result<User, WebError> {
    ctx.user.clone().ok_or_else(|| WebError {
        error: ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "sign in first",
        ),
        zh: "请先登录",
        en: "Sign in first",
    })
}

async fn show(desk: Desk, ctx: Ctx, State(s): S) -> Response {
    let r: Result<Markup, WebError> = async {
        let u = user_of(&ctx)?;
        let l = ctx.chrome.lang;
        let choices = choices(desk, &s, &u, l).await?;
        let mut values = Values::default();
        for spec in desk.fields() {
            match spec.kind {
                Kind::Date => values.set(spec.name, &choices.today),
                Kind::Select(Choice::YesNo) => values.set(spec.name, "no"),
                _ => {}
            }
            // A link may fill a field in (the trace's 冲销 link: the voucher).
            if let Some(given) = ctx.param(spec.name) {
                values.set(spec.name, given);
            }
        }
        let key = new_key(s.ledger.clock().now_ms());
        Ok(render_form(
            &ctx.chrome,
            &FormView {
                desk,
                values: &values,
                key: &key,
                problems: &Problems::default(),
                choices: &choices,
            },
        ))
    }
    .await;
    ctx.respond(r)
}

/// The form again, with its problems (422).
async fn refuse(
    desk: Desk,
    ctx: Ctx,
    s: &AppState,
    u: &User,
    values: &Values,
    key: &str,
    problems: &Problems,
) -> Response {
    let r = match choices(desk, s, u, ctx.chrome.lang).await {
        Ok(choices) => Ok(render_form(
            &ctx.chrome,
            &FormView {
                desk,
                values,
                key,
                problems,
                choices: &choices,
            },
        )),
        Err(e) => Err(e),
    };
    let mut res = ctx.respond(r);
    if res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

fn internal(e: impl std::fmt::Display) -> WebError {
    tracing::error!(error = %e, "a form could not be recorded");
    WebError {
        error: ApiError::internal(),
        zh: "内部错误，请查看节点日志",
        en: "Internal error; see the node's log",
    }
}

fn done_path(key: &str) -> String {
    format!("/desk/done/{key}")
}

async fn submit(
    desk: Desk,
    ctx: Ctx,
    State(s): S,
    Acting(actor): Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let u = match user_of(&ctx) {
        Ok(u) => u,
        Err(e) => return ctx.respond(Err(e)),
    };
    let mut values = Values::new(pairs);
    let now_ms = s.ledger.clock().now_ms();
    let key = values.get(KEY_FIELD).to_owned();
    if !key_fresh(&key, now_ms) {
        let fresh = new_key(now_ms);
        let p = Problems::whole(FieldError::new(
            "表单已过期或不完整，请核对后重新提交",
            "The form is stale or incomplete; check it and submit again",
        ));
        return refuse(desk, ctx, &s, &u, &values, &fresh, &p).await;
    }
    // A key used before: whatever this POST says, the first result.
    match s.ledger.form_result(&u.login, &key).await {
        Ok(Some(_)) => return see_other(&done_path(&key)),
        Ok(None) => {}
        Err(e) => return ctx.respond(Err(internal(e))),
    }
    let step = values.get(STEP_FIELD).to_owned();
    values.set(STEP_FIELD, "");
    if step == "edit" {
        return refuse_ok(desk, ctx, &s, &u, &values, &key).await;
    }
    let ask = match parse(desk, &values) {
        Ok(a) => a,
        Err(p) => return refuse(desk, ctx, &s, &u, &values, &key, &p).await,
    };
    let body = match ask {
        Ask::Body(b) => b,
        Ask::Allocation(a) => match a.body(&s, &u).await {
            Ok(b) => b,
            Err(e) => match api_problems(desk, &e) {
                Some(p) => return refuse(desk, ctx, &s, &u, &values, &key, &p).await,
                None => return ctx.respond(Err(internal(e.message()))),
            },
        },
    };
    let bodies = [body];
    if desk.confirms() && step != "confirm" {
        if let Err(e) = s.ledger.rehearse(&bodies, &actor).await {
            return ledger_refused(desk, ctx, &s, &u, &values, &key, e).await;
        }
        let r = choices(desk, &s, &u, ctx.chrome.lang).await.map(|choices| {
            render_confirm(
                &ctx.chrome,
                &FormView {
                    desk,
                    values: &values,
                    key: &key,
                    problems: &Problems::default(),
                    choices: &choices,
                },
            )
        });
        return ctx.respond(r);
    }
    let fk = FormKey {
        login: &u.login,
        key: &key,
        form: desk.slug(),
    };
    match s.ledger.submit_keyed(&fk, &bodies, &actor).await {
        Ok(Keyed::Recorded(_) | Keyed::Repeated(_)) => see_other(&done_path(&key)),
        Err(e) => ledger_refused(desk, ctx, &s, &u, &values, &key, e).await,
    }
}

/// The form as it was sent, to edit (200).
async fn refuse_ok(
    desk: Desk,
    ctx: Ctx,
    s: &AppState,
    u: &User,
    values: &Values,
    key: &str,
) -> Response {
    let mut r = refuse(desk, ctx, s, u, values, key, &Problems::default()).await;
    if r.status() == StatusCode::UNPROCESSABLE_ENTITY {
        *r.status_mut() = StatusCode::OK;
    }
    r
}

async fn ledger_refused(
    desk: Desk,
    ctx: Ctx,
    s: &AppState,
    u: &User,
    values: &Values,
    key: &str,
    e: LedgerError,
) -> Response {
    match ledger_problems(desk, &e) {
        Some(p) => refuse(desk, ctx, s, u, values, key, &p).await,
        None => ctx.respond(Err(internal(e))),
    }
}

/// 办理: the forms the reader's roles open.
async fn index(ctx: Ctx) -> Response {
    let l = ctx.chrome.lang;
    let roles = ctx
        .chrome
        .who
        .as_ref()
        .map(|w| w.roles.clone())
        .unwrap_or_default();
    let open: Vec<Desk> = Desk::ALL
        .into_iter()
        .filter(|d| d.permission().granted_by(&roles))
        .collect();
    let body = html! {
        @if open.is_empty() {
            p class="muted" { (l.t("您的角色没有可办理的事项。", "Your roles open no forms.")) }
        } @else {
            ul class="desk-list" {
                @for d in &open {
                    li {
                        a href=(d.path()) { (d.title(l)) }
                        span class="muted" { " · " (d.about(l)) }
                    }
                }
            }
            @if open.contains(&Desk::Reversal) {
                p class="sub" {
                    (l.t("冲销支付也可从支付的追溯页进入。", "A payment can also be reversed from its trace page."))
                }
            }
        }
    };
    let r = Ok(page(&ctx.chrome, Nav::Desk, l.t("办理", "Desk"), body));
    ctx.respond(r)
}

/// What a form recorded: the entries, each with what it is and links.
async fn done(ctx: Ctx, State(s): S, Path(key): Path<String>) -> Response {
    let r: Result<Markup, WebError> = async {
        let u = user_of(&ctx)?;
        let l = ctx.chrome.lang;
        let found = s.ledger.form_result(&u.login, &key).await?;
        let Some(found) = found else {
            return Err(WebError::not_found(
                "没有这次办理的记录（或已超过一天）",
                "No such submission (or it is more than a day old)",
                &key,
            ));
        };
        let desk = Desk::of_slug(&found.form);
        let mut rows = Vec::new();
        for id in &found.entries {
            let allocation = s.ledger.allocation(*id).await?;
            let payment = match allocation {
                Some(_) => None,
                None => s.ledger.payment(*id).await?,
            };
            rows.push((*id, allocation, payment));
        }
        let title = desk.map_or(l.t("已办理", "Done"), |d| d.title(l));
        let body = html! {
            div class="note" role="status" style="border-left-color:var(--ok);background:#eaf6ef" id="done" {
                (l.t("已登记。", "Recorded.")) " "
                (l.t("再次提交同一表单不会重复登记。", "Submitting the same form again records nothing more."))
            }
            @for (id, a, p) in &rows {
                div class="card" {
                    dl class="grid" {
                        dt { (l.t("记录编号", "Entry")) } dd { code { (id) } }
                        @if let Some(a) = a {
                            dt { (l.t("文号", "Document")) } dd { (a.doc_no) }
                            dt { (l.t("金额", "Amount")) }
                            dd { span class="amount" { (yuan(a.amount)) " " (l.t("元", "yuan")) } " （" (wan(a.amount)) " " (l.t("万元", "× 10,000 yuan")) "）" }
                            dt { (l.t("可用余额", "Available")) }
                            dd { (yuan(a.available)) " " (l.t("元", "yuan")) }
                            dt { (l.t("持有", "Holder")) } dd { (a.holder) }
                            dt { (l.t("日期", "Date")) } dd { (a.dated) }
                        }
                        @if let Some(p) = p {
                            dt { (l.t("凭证号", "Voucher")) } dd { (p.voucher_no) }
                            dt { (l.t("金额", "Amount")) }
                            dd { span class="amount" { (yuan(p.amount)) " " (l.t("元", "yuan")) } " （" (wan(p.amount)) " " (l.t("万元", "× 10,000 yuan")) "）" }
                            dt { (l.t("收款人", "Payee")) } dd { (p.payee_name) }
                            dt { (l.t("追溯", "Trace")) } dd { a href={ "/trace/" (p.id) } { (l.t("查看资金追溯", "See the trace")) } }
                        }
                    }
                }
            }
            p {
                @if let Some(d) = desk {
                    a href=(d.path()) { (l.t("继续办理：", "Another: ")) (d.title(l)) }
                    " · "
                }
                a href="/desk" { (l.t("返回办理", "Back to the desk")) }
                " · "
                a href="/allocations" { (l.t("指标", "Allocations")) }
                " · "
                a href="/payments" { (l.t("支付", "Payments")) }
            }
        };
        Ok(page(&ctx.chrome, Nav::Desk, title, body))
    }
    .await;
    ctx.respond(r)
}

/// Whether a payment shown at this node may be reversed here by `roles`:
/// recorded here, not reversed yet. The trace page links to the form then.
pub fn reversal_link(
    roles: &[crate::access::Role],
    me: &str,
    origin: &str,
    voucher_no: &str,
    reversed: bool,
) -> Option<String> {
    (Desk::Reversal.permission().granted_by(roles) && origin == me && !reversed).then(|| {
        super::html::url(
            &Desk::Reversal.path(),
            &[("voucher_no", voucher_no.to_owned())],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome;

    #[test]
    fn the_navigation_knows_the_forms_permissions() {
        let mut forms: Vec<String> = Desk::ALL
            .iter()
            .map(|d| d.permission().to_string())
            .collect();
        forms.sort();
        forms.dedup();
        let mut nav: Vec<String> = crate::web::layout::DESK_PERMISSIONS
            .iter()
            .map(|p| p.to_string())
            .collect();
        nav.sort();
        assert_eq!(forms, nav);
    }

    fn values(pairs: &[(&str, &str)]) -> Values {
        Values::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn amounts_are_exact_yuan_and_refused_in_chinese() {
        assert_eq!(parse_amount("30,000.00").map(|a| a.fen()), Ok(3_000_000));
        assert_eq!(parse_amount(" 12.3 ").map(|a| a.fen()), Ok(1230));
        assert_eq!(
            parse_amount("-5").map_err(|e| e.zh),
            Err("金额必须大于零".to_owned())
        );
        assert_eq!(
            parse_amount("1.234").map_err(|e| e.zh),
            Err("金额最多两位小数（精确到分）".to_owned())
        );
        assert!(parse_amount("1e5").is_err() && parse_amount("").is_err());
    }

    #[test]
    fn keys_are_fresh_for_a_day_only() {
        let now = 1_593_475_200_000;
        let k = new_key(now);
        assert!(key_fresh(&k, now));
        assert!(key_fresh(&k, now + FORM_KEY_TTL_MS - 1));
        assert!(!key_fresh(&k, now + FORM_KEY_TTL_MS));
        assert!(
            !key_fresh(&new_key(now + 3_600_000), now),
            "from the future"
        );
        for bad in ["", "x", "123-abc", &format!("{now}-{}", "g".repeat(32))] {
            assert!(!key_fresh(bad, now), "{bad}");
        }
        assert_ne!(new_key(now), new_key(now));
    }

    #[test]
    fn an_allocation_form_parses_into_the_apis_request() {
        let v = values(&[
            ("source", "652800-3"),
            ("to", "652822"),
            ("amount", "1,000.50"),
            ("doc_no", "巴财农〔2020〕1号"),
            ("issued_on", "2020-05-01"),
            ("category", ""),
        ]);
        let Ok(Ask::Allocation(a)) = parse(Desk::Allocation, &v) else {
            panic!("parsed");
        };
        assert_eq!(a.amount.fen(), 100_050);
        assert_eq!(a.source.to_string(), "652800-3");
        assert!(a.category.is_none());
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let v = values(&[("amount", "1.234"), ("received_on", "2020-13-01")]);
        let Err(p) = parse(Desk::FundsReceived, &v) else {
            panic!("refused");
        };
        assert_eq!(p.fields["amount"].zh, "金额最多两位小数（精确到分）");
        assert!(p.fields["received_on"].zh.starts_with("请输入日期"));
        assert_eq!(p.fields["doc_no"].zh, "必填");
        assert_eq!(p.fields["category"].zh, "请选择");
        assert!(!p.fields.contains_key("title"), "optional");
    }

    #[test]
    fn over_allocation_is_said_by_the_amount_in_chinese() {
        let e = LedgerError::OverAllocation {
            source_id: "652800-3".parse().expect("id"),
            available: Decimal::new(100_000, 2),
            requested: Decimal::new(200_000, 2),
        };
        let p = ledger_problems(Desk::Allocation, &e).expect("shown");
        assert_eq!(
            p.fields["amount"].zh,
            "超出可用余额：来源指标可用 1,000.00 元（0.10 万元），本次 2,000.00 元"
        );
        let store = LedgerError::Store(crate::store::StoreError::Corrupt("x".into()));
        assert!(ledger_problems(Desk::Allocation, &store).is_none());
    }

    fn view_parts() -> (Values, Problems, Choices) {
        let v = values(&[
            ("source", "652800-3"),
            ("to", "652822"),
            ("amount", "1234.5"),
            ("doc_no", "巴财农〔2020〕1号"),
            ("issued_on", "2020-05-01"),
        ]);
        let mut p = Problems::default();
        p.fields
            .insert("amount", FieldError::new("超出可用余额", "over"));
        let c = Choices {
            children: vec![("652822".into(), "轮台县 652822".into())],
            held: vec![(
                "652800-3".into(),
                "新财农〔2020〕12号 · 可用 5,000.00 元".into(),
            )],
            node_name: "巴音郭楞蒙古自治州".into(),
            ..Choices::default()
        };
        (v, p, c)
    }

    #[test]
    fn a_form_has_labels_the_key_and_the_error_by_its_field() {
        let (v, p, c) = view_parts();
        let s = render_form(
            &test_chrome(Lang::Zh),
            &FormView {
                desk: Desk::Allocation,
                values: &v,
                key: "k1",
                problems: &p,
                choices: &c,
            },
        )
        .into_string();
        assert!(s.contains("name=\"csrf_token\" value=\"t\""), "{s}");
        assert!(s.contains("name=\"form_key\" value=\"k1\""));
        for f in ["source", "to", "amount", "doc_no", "issued_on", "category"] {
            assert!(s.contains(&format!("<label for=\"f-{f}\">")), "{f}");
        }
        assert!(s.contains(
            "<option value=\"652800-3\" selected>新财农〔2020〕12号 · 可用 5,000.00 元</option>"
        ));
        assert!(s.contains(
            "aria-describedby=\"f-amount-error\"><span class=\"field-error\" id=\"f-amount-error\">超出可用余额</span>"
        ), "{s}");
    }

    #[test]
    fn the_confirmation_shows_yuan_wan_the_parties_and_the_document() {
        let (v, _, c) = view_parts();
        let s = render_confirm(
            &test_chrome(Lang::Zh),
            &FormView {
                desk: Desk::Allocation,
                values: &v,
                key: "k1",
                problems: &Problems::default(),
                choices: &c,
            },
        )
        .into_string();
        assert!(s.contains("1,234.50 元"), "{s}");
        assert!(s.contains("0.12345</span> 万元"), "{s}");
        assert!(s.contains("巴音郭楞蒙古自治州") && s.contains("轮台县 652822"));
        assert!(s.contains("巴财农〔2020〕1号"));
        assert!(s.contains("name=\"step\" value=\"confirm\"") && s.contains("返回修改"));
        assert!(s.contains("name=\"form_key\" value=\"k1\""));
        assert!(s.contains("<input type=\"hidden\" name=\"amount\" value=\"1234.5\">"));
    }

    #[test]
    fn the_reversal_link_is_for_the_treasury_on_its_own_payments() {
        use crate::access::Role;
        let t = [Role::Treasury];
        assert_eq!(
            reversal_link(&t, "652822", "652822", "V 1", false).as_deref(),
            Some("/desk/reversal?voucher_no=V%201")
        );
        assert!(reversal_link(&t, "652822", "652823", "V1", false).is_none());
        assert!(reversal_link(&t, "652822", "652822", "V1", true).is_none());
        assert!(reversal_link(&[Role::Auditor], "652822", "652822", "V1", false).is_none());
    }
}
