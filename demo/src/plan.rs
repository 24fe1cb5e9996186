//! The 2020 Bayingol scenario (seed 002) as plain data: what the region
//! (650000), the prefecture 巴音郭楞蒙古自治州 (652800) and its nine counties
//! record, in the order they record it, and the figures of seed 002 that the
//! demo must reproduce.
//!
//! The data are TOML files under `demo/data/`, compiled in: `above.toml` (the
//! region's and the prefecture's funds, the prefecture's seven batches and
//! both levels' notices of allocation results), `counties.toml` (each
//! county's shares, own budget, projects and notices of them),
//! `kinds.toml` (what a kind of project promises and how it is paid) and
//! `expected.toml` (the seed's figures). This module turns them into the
//! steps a client submits: it derives what the files leave implicit (the
//! prefecture's issues from the shares, a project's budget from its uses, the
//! "rest" of an allocation, targets, payments, completions, voucher numbers,
//! the records each notice names).
//!
//! Why data and not code: the runner submits these steps through the ledger
//! like any client, so the demo exercises the real rules; the tests below redo
//! the seed's arithmetic on the data alone, so a wrong figure is caught here,
//! before any node starts.
//!
//! What comes from the seed: every batch (date, fund sources, total), every
//! county's total per fund source, the prefecture's own 3900 万元 and its split,
//! its own budgets of 2016–2019 (seed 002 一: 1510, 3100, 3800, 3850 万元,
//! 16160 with 2020's; the seed prints 2017's as "3100 元", a typo for 万元;
//! reconstructed: the days, 文号 and their use, one summary project of the
//! prefecture per year spent in full within it, are the plan's, marked
//! [`RECONSTRUCTED`] in the entries; see `above.toml`),
//! and the carry-over on 2020-09-25 per county and per fund source, with the
//! projects the seed names for it, and why each part of it is carried over
//! (`held` in `counties.toml`, recorded as `carry_over_explained` at the
//! county on 2020-09-25: 质保金, 工程尾款, the 475.41 万元 bounced on a wrong
//! account, fees and savings as "other"). What the plan chooses, because the seed does
//! not say: how each batch of 扶贫发展 funds splits between the counties (about
//! in proportion to each county's 扶贫发展 total), how the bonds split between
//! the two batches, document numbers, projects, payees and payment dates.
//!
//! Amounts are yuan (`Decimal`, at most 2 places). The seed writes 万元 with up
//! to 6 places; the data files keep the seed's 万元 text, so it can be checked
//! against the seed by eye, and the loader converts it (1 万元 = 10000 元).
//!
//! Where seed 002 does not add up: its per-source carry-over figures are
//! printed to 0.01 万元, and the printed totals are roundings of sums the plan
//! must reproduce exactly. 尉犁's parts add up to 40.376 (printed 40.38); 且末's
//! printed parts add up to 566.34 while its total is printed 566.33 and the
//! prefecture's 1441.16 needs 566.33. The plan keeps every printed part as a
//! rounding of an exact figure: 且末's county funds are 393.877 (printed 393.88,
//! of which 392.537 printed 392.54) and its central advance funds 61.747
//! (printed 61.75, of which 56.547 printed 56.55), so 且末 holds 566.334
//! (566.33) and the nine counties 1441.162302 (1441.16). [`Expected::seed_wan`]
//! keeps the printed figure next to the exact one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::NaiveDate;
use fundsync_protocol::body::{
    CarryOverReason, ProjectStatus, ReportScope, TargetLevel1, TargetLevel2, TargetOp,
};
use fundsync_protocol::{FundOrigin, Level};
use rust_decimal::Decimal;
use serde::Deserialize;

/// The region's node code (新疆维吾尔自治区).
pub const REGION: &str = "650000";
/// The prefecture's node code (巴音郭楞蒙古自治州).
pub const PREFECTURE: &str = "652800";

/// 中央财政专项扶贫资金—扶贫发展 (origin central).
pub const CENTRAL_DEV: &str = "X-01";
/// 中央财政专项扶贫资金—少数民族发展 (origin central).
pub const CENTRAL_MINORITY: &str = "X-02";
/// 中央财政专项扶贫资金—国有贫困农场扶贫 (origin central).
pub const CENTRAL_FARM: &str = "X-03";
/// 自治区财政专项扶贫资金—扶贫发展 (origin region).
pub const REGION_DEV: &str = "X-04";
/// 地州本级安排财政专项扶贫资金—扶贫发展 (origin prefecture).
pub const PREFECTURE_DEV: &str = "X-05";
/// 地方政府债券用于脱贫攻坚项目资金 (origin bond).
pub const BONDS: &str = "R-16";
/// The counties' own poverty funds (县级财政专项扶贫资金, including the county
/// matching of bond projects, seed 002 §四): the catalog's demo row X-06
/// (origin county). Seed 001's S1-K-02 is a Shaanxi county's list, not
/// offered to the Xinjiang nodes.
pub const COUNTY_DEV: &str = "X-06";

/// Everything the prefecture passed down from above: the five categories of
/// the 104041 万元 in seed 002 (central, region and bonds).
pub const FROM_ABOVE: [&str; 5] = [
    CENTRAL_DEV,
    CENTRAL_MINORITY,
    CENTRAL_FARM,
    REGION_DEV,
    BONDS,
];

/// The day seed 002 §四 reports the carry-over (截至9月25日).
pub const CARRY_OVER_ON: NaiveDate = day(2020, 9, 25);
/// The day of the last batch issued to the counties; every allocation of the
/// year is in place by then.
pub const LAST_BATCH_ON: NaiveDate = day(2020, 6, 4);

/// The day each project's actuals are reported at the latest (a project
/// completed earlier reports them on its completion).
pub const ACTUALS_BY: NaiveDate = day(2020, 12, 20);
/// The day every project of 2020 is self-evaluated (绩效自评, seed 003 §13).
pub const EVALUATED_ON: NaiveDate = day(2020, 12, 25);
/// The day each county's departments compile their reports; the county's
/// own report follows the next day.
pub const DEPARTMENT_REPORTS_ON: NaiveDate = day(2020, 12, 28);
/// The prefecture's report over its counties' (seed 003 §14).
pub const PREFECTURE_REPORT_ON: NaiveDate = day(2020, 12, 30);
/// The region's report over the prefecture's, on the year's last day.
pub const REGION_REPORT_ON: NaiveDate = day(2020, 12, 31);

/// A node of the demo tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub code: &'static str,
    pub name: &'static str,
    pub level: Level,
    pub parent: Option<&'static str>,
}

/// What one node records. Allocations are named by the holder (the node that
/// records or receives them), their document number and their category, never
/// by ledger entry ids, which are assigned at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Funds received from the centre (only the region); dated the step's day.
    FundsReceived {
        doc_no: String,
        category: &'static str,
        amount: Decimal,
        /// Who sent it.
        source: String,
        title: String,
    },
    /// The node's own-level budget (本级安排), dated the step's day.
    OwnBudget {
        doc_no: String,
        category: &'static str,
        amount: Decimal,
        title: String,
    },
    /// An allocation issued to the child `to`, carved from the allocation this
    /// node holds with document number `source_doc` and category `category`
    /// (received funds, own budget or an allocation from the parent). The
    /// child then holds it under `doc_no` and the same category.
    Issue {
        doc_no: String,
        source_doc: String,
        category: &'static str,
        to: &'static str,
        amount: Decimal,
        title: String,
    },
    /// A project enters the county's project library.
    Project {
        code: String,
        name: String,
        township: String,
        village: String,
        department: String,
        starts_on: NaiveDate,
        ends_on: NaiveDate,
        budget: Decimal,
        status: ProjectStatus,
    },
    /// A project's status changes (here: completed, 竣工).
    ProjectStatus {
        project: String,
        status: ProjectStatus,
    },
    /// A performance target of a project (one level-3 indicator).
    Target {
        project: String,
        level1: TargetLevel1,
        level2: TargetLevel2,
        indicator: String,
        op: TargetOp,
        value: Decimal,
        unit: String,
    },
    /// The finance bureau's review (审核) of every target of `project`
    /// awaiting review, dated the step's day: necessity, relevance and fit
    /// to the money all passed (seed 003 第八条).
    TargetsReviewed { project: String },
    /// The approval (批复) of every reviewed target of `project` under
    /// `doc_no`, dated the step's day (seed 003 第九条); the project may then
    /// start (实施) and be paid.
    TargetsApproved { project: String, doc_no: String },
    /// A treasury payment, paid on the step's day from the allocation the
    /// county holds with document number `alloc_doc` and category
    /// `alloc_category`.
    Payment {
        voucher_no: String,
        payer: String,
        payee_name: String,
        payee_account: String,
        payee_bank: String,
        amount: Decimal,
        function_class: String,
        alloc_doc: String,
        alloc_category: &'static str,
        project: String,
        purpose: String,
    },
    /// A notice (公告公示) making this node's own records public: allocations
    /// it issued or projects of its library, named by natural keys (the
    /// runner looks up their entries). Dated the step's day.
    Publish {
        doc_no: String,
        title: String,
        records: Published,
    },
    /// A target's actual (执行监控): the project's `indicator` reached
    /// `actual`, dated the step's day.
    TargetActual {
        project: String,
        indicator: String,
        actual: Decimal,
        note: String,
        /// The evidence reference (佐证材料, protocol version 6).
        evidence: String,
    },
    /// A project's year-end self-evaluation (绩效自评, seed 003 §13), its
    /// indicators every target's latest actual, dated the step's day.
    SelfEvaluation {
        project: String,
        year: i32,
        measures: String,
    },
    /// A self-evaluation report (seed 003 §14), a department's or the
    /// node's, what it covers drawn up by the ledger; compiled once
    /// `reports` earlier reports have reached the node (its departments',
    /// its children's), dated the step's day.
    EvaluationReport {
        year: i32,
        scope: ReportScope,
        department: String,
        summary: String,
        reports: usize,
    },
    /// Why part of the balance of the allocation the county holds with
    /// document number `alloc_doc` and category `alloc_category` is carried
    /// over on the step's day (seed 002 四(一)): a `carry_over_explained`
    /// entry for `project`, to be paid on `planned_on`.
    CarryOver {
        alloc_doc: String,
        alloc_category: &'static str,
        project: String,
        reason: CarryOverReason,
        amount: Decimal,
        planned_on: NaiveDate,
        note: String,
    },
}

/// What a notice makes public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Allocation results (资金分配结果): allocations the node issued.
    Allocations(Vec<IssuedRef>),
    /// Projects of the node's library, by project code.
    Projects(Vec<String>),
}

/// An allocation a node issued: to `to`, under `doc_no`, in `category`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRef {
    pub doc_no: String,
    pub category: &'static str,
    pub to: &'static str,
}

/// One thing to submit: at node `node`, with business date `on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub node: &'static str,
    pub on: NaiveDate,
    pub action: Action,
}

/// Which money a figure counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Funds {
    /// Every category.
    All,
    /// The categories of one origin (central, region, prefecture, county, bond).
    Origin(FundOrigin),
    /// These categories.
    Categories(Vec<&'static str>),
    /// These allocations held by the figure's node, by document number and
    /// category (used with the balance figures, where the seed reports
    /// carry-over per batch).
    Allocations(Vec<AllocRef>),
}

/// An allocation named by its document number and category (its holder is
/// the node the figure is about).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocRef {
    pub doc_no: String,
    pub category: &'static str,
}

/// What a figure measures at its node. Each is a sum over allocations dated
/// (and payments paid) up to and including the day, unless it says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Issued by the node to its children on exactly this day (one batch).
    IssuedOn(NaiveDate),
    /// Issued by the node to its children up to this day.
    IssuedUpTo(NaiveDate),
    /// Received by the node from its parent (at the region: from the centre).
    ReceivedUpTo(NaiveDate),
    /// The node's own-level budget.
    OwnBudgetUpTo(NaiveDate),
    /// The node's own-level budget dated in this year (seed 002 一).
    OwnBudgetIn(i32),
    /// What the node holds: received + own budget − issued down − paid
    /// (at a county: its carry-over, 结转结余).
    BalanceOn(NaiveDate),
    /// The same summed over the node and every node below it.
    SubtreeBalanceOn(NaiveDate),
}

/// A figure of seed 002 the demo reproduces, as `demo --check` compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub label_zh: String,
    pub label_en: String,
    pub node: &'static str,
    pub funds: Funds,
    pub figure: Figure,
    /// The exact figure, in yuan.
    pub yuan: Decimal,
    /// The figure as the seed prints it, in 万元; `yuan` rounds to it at the
    /// printed precision (see the module docs for the three that differ).
    pub seed_wan: Decimal,
    /// How the seed prints it where that is not `seed_wan` 万元: 2017's own
    /// budget, printed "3100 元" (a typo for 万元).
    pub seed_text: Option<String>,
}

/// The region, the prefecture and its nine counties.
pub fn nodes() -> anyhow::Result<Vec<Node>> {
    let s = scenario()?;
    let mut out = vec![
        Node {
            code: &s.above.region.code,
            name: &s.above.region.name,
            level: Level::Region,
            parent: None,
        },
        Node {
            code: &s.above.prefecture.code,
            name: &s.above.prefecture.name,
            level: Level::Prefecture,
            parent: Some(&s.above.region.code),
        },
    ];
    out.extend(s.counties.iter().map(|c| Node {
        code: &c.code,
        name: &c.name,
        level: Level::County,
        parent: Some(&s.above.prefecture.code),
    }));
    Ok(out)
}

/// Every step, in the order to submit it (by business date; on one day in the
/// order written).
pub fn steps() -> anyhow::Result<Vec<Step>> {
    let s = scenario()?;
    let mut out = Vec::new();
    region_steps(s, &mut out);
    prefecture_steps(s, &mut out);
    for c in &s.counties {
        county_steps(s, c, &mut out);
    }
    report_steps(s, &mut out);
    // Notices last: on its day, a notice comes after everything else, so it
    // finds what it publishes and shows the day's payments.
    notice_steps(s, &mut out);
    // Stable: steps of one day keep the order they were written in, which
    // puts every allocation before what is carved or paid from it.
    out.sort_by_key(|s| s.on);
    number_vouchers(&mut out);
    Ok(out)
}

/// Every figure of seed 002 (as summarised in DOMAIN.md) the demo reproduces.
pub fn expected() -> anyhow::Result<Vec<Expected>> {
    Ok(scenario()?
        .expected
        .iter()
        .map(|e| Expected {
            label_zh: e.zh.clone(),
            label_en: e.en.clone(),
            node: &e.node,
            funds: match &e.funds {
                FundsData::All => Funds::All,
                FundsData::Origin(o) => Funds::Origin(*o),
                FundsData::Categories(v) => {
                    Funds::Categories(v.iter().map(String::as_str).collect())
                }
                FundsData::Allocations(v) => Funds::Allocations(
                    v.iter()
                        .map(|r| AllocRef {
                            doc_no: r.doc_no.clone(),
                            category: &r.category,
                        })
                        .collect(),
                ),
            },
            figure: e.figure,
            yuan: wan(&e.wan),
            seed_wan: Decimal::from_str_exact(&e.seed_wan).unwrap_or(Decimal::MIN),
            seed_text: e.seed_text.clone(),
        })
        .collect())
}

// ---------------------------------------------------------------------------
// The data files

/// The scenario, parsed once from the files under `demo/data/` (compiled
/// in, so the binary needs nothing beside it).
fn scenario() -> anyhow::Result<&'static Scenario> {
    static SCENARIO: LazyLock<Result<Scenario, String>> = LazyLock::new(|| {
        let file = |name: &str, e: toml::de::Error| format!("demo/data/{name}: {e}");
        Ok(Scenario {
            above: toml::from_str(include_str!("../data/above.toml"))
                .map_err(|e| file("above.toml", e))?,
            counties: toml::from_str::<CountiesFile>(include_str!("../data/counties.toml"))
                .map_err(|e| file("counties.toml", e))?
                .county,
            kinds: toml::from_str(include_str!("../data/kinds.toml"))
                .map_err(|e| file("kinds.toml", e))?,
            expected: toml::from_str::<ExpectedFile>(include_str!("../data/expected.toml"))
                .map_err(|e| file("expected.toml", e))?
                .figure,
        })
    });
    SCENARIO
        .as_ref()
        .map_err(|e| anyhow::anyhow!("the demo's scenario: {e}"))
}

#[derive(Debug)]
struct Scenario {
    above: Above,
    counties: Vec<County>,
    kinds: BTreeMap<String, KindSpec>,
    expected: Vec<ExpectedData>,
}

/// `above.toml`: the region and the prefecture.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Above {
    region: NodeData,
    prefecture: NodeData,
    /// Funds from the centre, at the region.
    centre: Vec<Budget>,
    /// The region's own budget.
    region_own: Vec<Budget>,
    /// What the region issues to the prefecture.
    region_issue: Vec<RegionIssue>,
    prefecture_own: Budget,
    /// The prefecture's own budgets before 2020, reconstructed from seed
    /// 002 一.
    prefecture_history: Vec<HistoryBudget>,
    batch: Vec<BatchInfo>,
    /// The region's notices of its allocation results.
    region_notice: Vec<AllocationNotice>,
    /// The prefecture's notices of its allocation results.
    prefecture_notice: Vec<AllocationNotice>,
}

/// A notice of allocation results (资金分配结果公示): every allocation the
/// node issued under the documents `allocations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllocationNotice {
    on: NaiveDate,
    doc: String,
    title: String,
    allocations: Vec<String>,
}

/// A county's notice of its projects: an arrangement (the projects
/// registered by `on` that no earlier arrangement named) or, with
/// `results`, the year's results (every project registered by `on`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectNotice {
    on: NaiveDate,
    doc: String,
    title: String,
    #[serde(default)]
    results: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeData {
    code: String,
    name: String,
}

/// Money a node receives or budgets itself: `wan` 万元 on `on`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Budget {
    on: NaiveDate,
    doc: String,
    category: String,
    wan: String,
    title: String,
}

/// One year's own budget of the prefecture before 2020 (seed 002 一),
/// `wan` 万元 budgeted on `on` and spent in full on `spent_on`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryBudget {
    year: i32,
    on: NaiveDate,
    doc: String,
    wan: String,
    spent_on: NaiveDate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionIssue {
    on: NaiveDate,
    doc: String,
    source_doc: String,
    category: String,
    wan: String,
    title: String,
}

/// The seven batches the prefecture issued to the counties (seed 002 §二),
/// plus the counties' own budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Batch {
    /// 2019-12-06, central issued in advance.
    CentralAdvance,
    /// 2019-12-30, region issued in advance.
    RegionAdvance,
    /// 2020-02-04, the prefecture's own budget.
    PrefectureOwn,
    /// 2020-04-26, central additional.
    CentralAdditional,
    /// 2020-04-29, bonds batch 1.
    Bonds1,
    /// 2020-05-22, central and region award funds.
    Award,
    /// 2020-06-04, bonds batch 2.
    Bonds2,
    /// The county's own budget (not issued by the prefecture).
    CountyOwn,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchInfo {
    id: Batch,
    /// The day the prefecture issues it to the counties.
    on: NaiveDate,
    /// The prefecture's document, under which the counties hold it.
    doc: String,
    title: String,
    categories: Vec<String>,
    /// What the prefecture carves it from (the region's document, or its own
    /// budget's).
    source_doc: String,
}

impl Scenario {
    fn batch(&self, b: Batch) -> Option<&BatchInfo> {
        self.above.batch.iter().find(|i| i.id == b)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountiesFile {
    county: Vec<County>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct County {
    code: String,
    name: String,
    /// Prefix of project codes.
    abbr: String,
    /// The bank most payees use.
    bank: String,
    /// The county's own budget.
    own: Option<OwnBudget>,
    /// Its notices of its projects, in the order published.
    notice: Vec<ProjectNotice>,
    /// Whole 万元 of each batch, in the order of the batch's categories.
    shares: BTreeMap<Batch, Vec<i64>>,
    #[serde(rename = "project")]
    projects: Vec<ProjectSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnBudget {
    on: NaiveDate,
    doc: String,
    wan: String,
}

impl County {
    /// The county's allocation for a batch and category: (document, yuan).
    fn allocation<'a>(
        &'a self,
        s: &'a Scenario,
        batch: Batch,
        category: &str,
    ) -> (&'a str, Decimal) {
        match (batch, &self.own) {
            (Batch::CountyOwn, Some(own)) => (&own.doc, wan(&own.wan)),
            (Batch::CountyOwn, None) => ("", Decimal::ZERO),
            (b, _) => {
                let Some(info) = s.batch(b) else {
                    return ("", Decimal::ZERO);
                };
                let share = info
                    .categories
                    .iter()
                    .position(|c| c == category)
                    .and_then(|i| self.shares.get(&b)?.get(i))
                    .copied()
                    .unwrap_or(0);
                (&info.doc, wan_int(share))
            }
        }
    }
}

/// What a kind of project (`kinds.toml`) decides: its two performance
/// targets, its function class and how payments read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindSpec {
    /// 支出功能分类.
    function_class: String,
    /// Construction or purchase, where a quality-guarantee retention or a
    /// final payment may follow completion.
    works: bool,
    payment_purpose: String,
    targets: Vec<TargetSpec>,
}

/// A performance target (one level-3 indicator).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSpec {
    level1: TargetLevel1,
    level2: TargetLevel2,
    indicator: String,
    op: TargetOp,
    /// None: the project's size.
    value: Option<Decimal>,
    unit: String,
}

/// Part of a use left unpaid on 2020-09-25: a quality-guarantee retention,
/// a final payment or a saving (seed 002 §四).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Held {
    wan: String,
    what: String,
    /// Paid later in 2020, or (None) not in 2020.
    paid_on: Option<NaiveDate>,
}

/// Money from one allocation of the county for one project.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Use {
    batch: Batch,
    category: String,
    /// 万元 for this project in all; None: whatever the allocation has left
    /// after the explicit uses (one such use per allocation).
    wan: Option<String>,
    /// The day the total, less what is held, is paid.
    paid_on: NaiveDate,
    held: Option<Held>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectSpec {
    name: String,
    township: String,
    village: String,
    /// The responsible department, without the county's name.
    department: String,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    payee: String,
    /// A key of `kinds.toml`.
    kind: String,
    /// What its first target promises (kilometres, households, …).
    size: i64,
    uses: Vec<Use>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFile {
    figure: Vec<ExpectedData>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedData {
    zh: String,
    en: String,
    node: String,
    funds: FundsData,
    figure: Figure,
    wan: String,
    seed_wan: String,
    #[serde(default)]
    seed_text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum FundsData {
    All,
    Origin(FundOrigin),
    Categories(Vec<String>),
    Allocations(Vec<AllocRefData>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllocRefData {
    doc_no: String,
    category: String,
}

// ---------------------------------------------------------------------------
// Amounts and dates

/// A date; an impossible one becomes `NaiveDate::MIN`, which the tests refuse.
const fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(x) => x,
        None => NaiveDate::MIN,
    }
}

/// 万元 as written in the seed → yuan. A text that is not a number or that
/// is finer than a fen becomes zero, which the tests refuse (every amount must
/// be positive).
fn wan(text: &str) -> Decimal {
    Decimal::from_str_exact(text)
        .ok()
        .and_then(|w| w.checked_mul(Decimal::from(10_000)))
        .map(|y| y.normalize())
        .filter(|y| y.scale() <= 2)
        .unwrap_or(Decimal::ZERO)
}

/// Whole 万元 → yuan.
fn wan_int(w: i64) -> Decimal {
    Decimal::from(w)
        .checked_mul(Decimal::from(10_000))
        .unwrap_or(Decimal::ZERO)
}

// ---------------------------------------------------------------------------
// The steps

fn region_steps(s: &'static Scenario, out: &mut Vec<Step>) {
    let region = s.above.region.code.as_str();
    for b in &s.above.centre {
        out.push(Step {
            node: region,
            on: b.on,
            action: Action::FundsReceived {
                doc_no: b.doc.clone(),
                category: &b.category,
                amount: wan(&b.wan),
                source: "财政部".into(),
                title: b.title.clone(),
            },
        });
    }
    for b in &s.above.region_own {
        out.push(Step {
            node: region,
            on: b.on,
            action: Action::OwnBudget {
                doc_no: b.doc.clone(),
                category: &b.category,
                amount: wan(&b.wan),
                title: b.title.clone(),
            },
        });
    }
    for i in &s.above.region_issue {
        out.push(Step {
            node: region,
            on: i.on,
            action: Action::Issue {
                doc_no: i.doc.clone(),
                source_doc: i.source_doc.clone(),
                category: &i.category,
                to: &s.above.prefecture.code,
                amount: wan(&i.wan),
                title: i.title.clone(),
            },
        });
    }
}

fn prefecture_steps(s: &'static Scenario, out: &mut Vec<Step>) {
    let prefecture = s.above.prefecture.code.as_str();
    for h in &s.above.prefecture_history {
        history_steps(prefecture, h, out);
    }
    let own = &s.above.prefecture_own;
    out.push(Step {
        node: prefecture,
        on: own.on,
        action: Action::OwnBudget {
            doc_no: own.doc.clone(),
            category: &own.category,
            amount: wan(&own.wan),
            title: own.title.clone(),
        },
    });
    for b in &s.above.batch {
        for c in &s.counties {
            for category in &b.categories {
                let (_, amount) = c.allocation(s, b.id, category);
                if amount > Decimal::ZERO {
                    out.push(Step {
                        node: prefecture,
                        on: b.on,
                        action: Action::Issue {
                            doc_no: b.doc.clone(),
                            source_doc: b.source_doc.clone(),
                            category,
                            to: &c.code,
                            amount,
                            title: b.title.clone(),
                        },
                    });
                }
            }
        }
    }
}

/// Marks what the plan reconstructs from seed 002 一 (the prefecture's own
/// budgets of 2016–2019), in the titles, names, purposes and notes of
/// their entries.
pub const RECONSTRUCTED: &str = "据种子002一重建";

/// One year of the prefecture's own budget before 2020 (seed 002 一),
/// reconstructed: the budget, and its use within the year as one summary
/// project of the prefecture (its target set, reviewed and approved the day
/// the budget is, started, paid in full and completed on `spent_on`, the
/// target reported met), so that nothing of it is left held in 2020.
fn history_steps(node: &'static str, h: &'static HistoryBudget, out: &mut Vec<Step>) {
    let y = h.year;
    let amount = wan(&h.wan);
    let project = format!("ZBJ{y}-001");
    let indicator = "本级专项扶贫资金支出进度";
    let step = |on: NaiveDate, action: Action| Step { node, on, action };
    out.push(step(
        h.on,
        Action::OwnBudget {
            doc_no: h.doc.clone(),
            category: PREFECTURE_DEV,
            amount,
            title: format!("{y}年自治州本级财政专项扶贫资金（{RECONSTRUCTED}）"),
        },
    ));
    out.push(step(
        h.on,
        Action::Project {
            code: project.clone(),
            name: format!("{y}年自治州本级财政专项扶贫资金安排（{RECONSTRUCTED}，明细未录入）"),
            township: String::new(),
            village: String::new(),
            department: PREFECTURE_HISTORY_DEPARTMENT.into(),
            starts_on: h.on,
            ends_on: day(y, 12, 31),
            budget: amount,
            status: ProjectStatus::Planned,
        },
    ));
    out.push(step(
        h.on,
        Action::Target {
            project: project.clone(),
            level1: TargetLevel1::Output,
            level2: TargetLevel2::Timeliness,
            indicator: indicator.into(),
            op: TargetOp::AtLeast,
            value: Decimal::ONE_HUNDRED,
            unit: "%".into(),
        },
    ));
    out.push(step(
        h.on,
        Action::TargetsReviewed {
            project: project.clone(),
        },
    ));
    out.push(step(
        h.on,
        Action::TargetsApproved {
            project: project.clone(),
            doc_no: h.doc.clone(),
        },
    ));
    out.push(step(
        h.on,
        Action::ProjectStatus {
            project: project.clone(),
            status: ProjectStatus::InProgress,
        },
    ));
    out.push(step(
        h.spent_on,
        Action::Payment {
            voucher_no: format!("ZF{y}-{node}-0001"),
            payer: "巴音郭楞蒙古自治州财政局".into(),
            payee_name: "各县市精准扶贫项目实施单位（汇总）".into(),
            payee_account: String::new(),
            payee_bank: String::new(),
            amount,
            function_class: "2130599".into(),
            alloc_doc: h.doc.clone(),
            alloc_category: PREFECTURE_DEV,
            project: project.clone(),
            purpose: format!("{y}年州本级财政专项扶贫资金支出汇总（{RECONSTRUCTED}）"),
        },
    ));
    out.push(step(
        h.spent_on,
        Action::TargetActual {
            project: project.clone(),
            indicator: indicator.into(),
            actual: Decimal::ONE_HUNDRED,
            note: format!("{y}年预算全额支出（{RECONSTRUCTED}）"),
            evidence: h.doc.clone(),
        },
    ));
    out.push(step(
        h.spent_on,
        Action::ProjectStatus {
            project,
            status: ProjectStatus::Completed,
        },
    ));
}

/// The department of the prefecture's reconstructed projects.
pub const PREFECTURE_HISTORY_DEPARTMENT: &str = "农业科";

/// One county's own budget, projects, targets, payments and completions.
fn county_steps(s: &'static Scenario, c: &'static County, out: &mut Vec<Step>) {
    if let Some(own) = &c.own {
        out.push(Step {
            node: &c.code,
            on: own.on,
            action: Action::OwnBudget {
                doc_no: own.doc.clone(),
                category: COUNTY_DEV,
                amount: wan(&own.wan),
                title: format!("关于安排2020年{}县级财政专项扶贫资金的通知", c.name),
            },
        });
    }
    // What the explicit uses take from each allocation; a "rest" use gets
    // what is left.
    let mut explicit: BTreeMap<(Batch, &str), Decimal> = BTreeMap::new();
    for u in c.projects.iter().flat_map(|p| &p.uses) {
        if let Some(t) = &u.wan {
            let e = explicit.entry((u.batch, &u.category)).or_default();
            *e = e.checked_add(wan(t)).unwrap_or(Decimal::ZERO);
        }
    }
    let mut rest_taken: BTreeSet<(Batch, &str)> = BTreeSet::new();
    let mut departments: BTreeSet<String> = BTreeSet::new();
    for (i, spec) in c.projects.iter().enumerate() {
        // An unknown kind: no targets and an empty function class, which
        // the tests refuse.
        let kind = s.kinds.get(&spec.kind);
        let code = format!("{}2020-{:03}", c.abbr, i.saturating_add(1));
        let department = format!("{}{}", c.name, spec.department);
        let mut lines = Vec::new();
        for u in &spec.uses {
            let key = (u.batch, u.category.as_str());
            let total = match &u.wan {
                Some(t) => wan(t),
                None if rest_taken.insert(key) => {
                    let (_, amount) = c.allocation(s, u.batch, &u.category);
                    let taken = explicit.get(&key).copied().unwrap_or_default();
                    amount.checked_sub(taken).unwrap_or(Decimal::ZERO)
                }
                // A second "rest" of one allocation: zero, refused by the tests.
                None => Decimal::ZERO,
            };
            lines.push((u, total));
        }
        let budget = lines
            .iter()
            .try_fold(Decimal::ZERO, |s, (_, t)| s.checked_add(*t))
            .unwrap_or(Decimal::ZERO);
        out.push(Step {
            node: &c.code,
            on: spec.starts_on,
            action: Action::Project {
                code: code.clone(),
                name: spec.name.clone(),
                township: spec.township.clone(),
                village: spec.village.clone(),
                department: department.clone(),
                starts_on: spec.starts_on,
                ends_on: spec.ends_on,
                budget,
                // A new project enters as planned; it starts (实施) once its
                // targets are approved (seed 003 §7).
                status: ProjectStatus::Planned,
            },
        });
        for t in kind.map_or(&[][..], |k| &k.targets) {
            out.push(Step {
                node: &c.code,
                on: spec.starts_on,
                action: Action::Target {
                    project: code.clone(),
                    level1: t.level1,
                    level2: t.level2,
                    indicator: t.indicator.clone(),
                    op: t.op,
                    value: t.value.unwrap_or_else(|| Decimal::from(spec.size)),
                    unit: t.unit.clone(),
                },
            });
        }
        // Reviewed and approved on the day they are set, then started: the
        // seed's projects were approved before their money came.
        out.push(Step {
            node: &c.code,
            on: spec.starts_on,
            action: Action::TargetsReviewed {
                project: code.clone(),
            },
        });
        out.push(Step {
            node: &c.code,
            on: spec.starts_on,
            action: Action::TargetsApproved {
                project: code.clone(),
                doc_no: format!("{}财绩批〔2020〕{}号", c.abbr, i.saturating_add(1)),
            },
        });
        out.push(Step {
            node: &c.code,
            on: spec.starts_on,
            action: Action::ProjectStatus {
                project: code.clone(),
                status: ProjectStatus::InProgress,
            },
        });
        let function_class = kind.map_or("", |k| k.function_class.as_str());
        let payment = |on: NaiveDate, u: &'static Use, amount: Decimal, purpose: String| Step {
            node: &c.code,
            on,
            action: Action::Payment {
                // Numbered once all steps are in order.
                voucher_no: String::new(),
                payer: department.clone(),
                payee_name: spec.payee.clone(),
                payee_account: format!("3045{}{:04}", c.code, i.saturating_add(1)),
                payee_bank: if spec.payee.contains("银行") {
                    spec.payee.clone()
                } else {
                    c.bank.clone()
                },
                amount,
                function_class: function_class.into(),
                alloc_doc: c.allocation(s, u.batch, &u.category).0.into(),
                alloc_category: &u.category,
                project: code.clone(),
                purpose,
            },
        };
        let mut completed: Option<NaiveDate> = None;
        for (u, total) in lines {
            let held = u.held.as_ref().map_or(Decimal::ZERO, |h| wan(&h.wan));
            let now = total.checked_sub(held).unwrap_or(Decimal::ZERO);
            let what = kind.map_or("", |k| k.payment_purpose.as_str());
            if now > Decimal::ZERO {
                let purpose = match &u.held {
                    Some(h) => format!("{what}（{}{}万元暂未支付）", h.what, h.wan),
                    None => what.to_owned(),
                };
                out.push(payment(u.paid_on, u, now, purpose));
                completed = completed.max(Some(u.paid_on));
            }
            if let Some(h) = u
                .held
                .as_ref()
                .filter(|h| h.paid_on.is_none_or(|d| d > CARRY_OVER_ON))
            {
                out.push(carry_over(c, s, u, h, &code, held));
            }
            if let Some(Held {
                what,
                paid_on: Some(on),
                ..
            }) = &u.held
            {
                out.push(payment(*on, u, held, what.clone()));
                // Works are complete before their retention is paid; a
                // subsidy or fee is complete with its last payment.
                if !kind.is_some_and(|k| k.works) {
                    completed = completed.max(Some(*on));
                }
            }
        }
        // Each target reached as promised, reported when the project is
        // done (by the year's end at the latest), then the year-end
        // self-evaluation (seed 003 §13).
        let reported_on = completed.map_or(ACTUALS_BY, |d| d.min(ACTUALS_BY));
        for t in kind.map_or(&[][..], |k| &k.targets) {
            out.push(Step {
                node: &c.code,
                on: reported_on,
                action: Action::TargetActual {
                    project: code.clone(),
                    indicator: t.indicator.clone(),
                    actual: t.value.unwrap_or_else(|| Decimal::from(spec.size)),
                    note: "验收资料".into(),
                    evidence: format!("{code} 竣工验收报告"),
                },
            });
        }
        out.push(Step {
            node: &c.code,
            on: EVALUATED_ON,
            action: Action::SelfEvaluation {
                project: code.clone(),
                year: 2020,
                measures: "加强项目后续管护".into(),
            },
        });
        departments.insert(department);
        if let Some(on) = completed {
            out.push(Step {
                node: &c.code,
                on,
                action: Action::ProjectStatus {
                    project: code,
                    status: ProjectStatus::Completed,
                },
            });
        }
    }
    // Each department's report, then the county's over them (seed 003 §14).
    for d in &departments {
        out.push(Step {
            node: &c.code,
            on: DEPARTMENT_REPORTS_ON,
            action: Action::EvaluationReport {
                year: 2020,
                scope: ReportScope::Department,
                department: d.clone(),
                summary: format!("{d}2020年度项目绩效目标全部完成。"),
                reports: 0,
            },
        });
    }
    out.push(Step {
        node: &c.code,
        on: DEPARTMENT_REPORTS_ON
            .succ_opt()
            .unwrap_or(DEPARTMENT_REPORTS_ON),
        action: Action::EvaluationReport {
            year: 2020,
            scope: ReportScope::Node,
            department: String::new(),
            summary: format!("{}2020年度扶贫项目绩效自评报告。", c.name),
            reports: departments.len(),
        },
    });
}

/// The prefecture's report over its counties', then the region's over the
/// prefecture's (seed 003 §14: level by level up to the region).
fn report_steps(s: &'static Scenario, out: &mut Vec<Step>) {
    for (node, on, reports, summary) in [
        (
            PREFECTURE,
            PREFECTURE_REPORT_ON,
            s.counties.len(),
            "巴音郭楞蒙古自治州2020年度扶贫项目绩效自评报告。",
        ),
        (
            REGION,
            REGION_REPORT_ON,
            1,
            "自治区2020年度扶贫项目绩效自评报告（巴音郭楞蒙古自治州）。",
        ),
    ] {
        out.push(Step {
            node,
            on,
            action: Action::EvaluationReport {
                year: 2020,
                scope: ReportScope::Node,
                department: String::new(),
                summary: summary.into(),
                reports,
            },
        });
    }
}

/// The county's reason for what `u` holds back on [`CARRY_OVER_ON`]
/// (seed 002 四(一)): 质保金 a quality guarantee, 工程尾款 a final payment,
/// the final payment bounced on a wrong account (轮台's 475.41) a wrong
/// account, anything else (fees, subsidies, interest, savings) "other" with
/// the seed's word as the note. Planned for the day the plan pays it; where
/// the seed gives no day (it is not paid in 2020), a year after the day
/// taken, when a one-year guarantee ends.
fn carry_over(
    c: &'static County,
    s: &'static Scenario,
    u: &'static Use,
    h: &'static Held,
    project: &str,
    amount: Decimal,
) -> Step {
    let reason = match h.what.as_str() {
        "质保金" => CarryOverReason::QualityGuarantee,
        "工程尾款" => CarryOverReason::FinalPayment,
        w if w.contains("收款账号错误") => CarryOverReason::WrongAccount,
        _ => CarryOverReason::Other,
    };
    let planned_on = h.paid_on.unwrap_or(day(2021, 9, 25));
    let mut note = match reason {
        CarryOverReason::Other | CarryOverReason::WrongAccount => h.what.clone(),
        _ => String::new(),
    };
    if h.paid_on.is_none() {
        if !note.is_empty() {
            note.push('；');
        }
        note.push_str("种子未载支付日期，按一年质保期计");
    }
    Step {
        node: &c.code,
        on: CARRY_OVER_ON,
        action: Action::CarryOver {
            alloc_doc: c.allocation(s, u.batch, &u.category).0.into(),
            alloc_category: &u.category,
            project: project.to_owned(),
            reason,
            amount,
            planned_on,
            note,
        },
    }
}

/// The notices (公告公示): the region's and the prefecture's allocation
/// results, each county's project arrangements and results. The records are
/// derived from the steps already planned: the allocations a node issues
/// under a notice's documents, the projects a county registers by a notice's
/// day.
fn notice_steps(s: &'static Scenario, out: &mut Vec<Step>) {
    let mut notices = Vec::new();
    for (node, list) in [
        (s.above.region.code.as_str(), &s.above.region_notice),
        (s.above.prefecture.code.as_str(), &s.above.prefecture_notice),
    ] {
        for n in list {
            let records = out
                .iter()
                .filter(|st| st.node == node)
                .filter_map(|st| match &st.action {
                    Action::Issue {
                        doc_no,
                        category,
                        to,
                        ..
                    } if n.allocations.contains(doc_no) => Some(IssuedRef {
                        doc_no: doc_no.clone(),
                        category,
                        to,
                    }),
                    _ => None,
                })
                .collect();
            notices.push(Step {
                node,
                on: n.on,
                action: Action::Publish {
                    doc_no: n.doc.clone(),
                    title: n.title.clone(),
                    records: Published::Allocations(records),
                },
            });
        }
    }
    for c in &s.counties {
        let registered: Vec<(NaiveDate, &String)> = out
            .iter()
            .filter(|st| st.node == c.code)
            .filter_map(|st| match &st.action {
                Action::Project { code, .. } => Some((st.on, code)),
                _ => None,
            })
            .collect();
        let mut announced: BTreeSet<&String> = BTreeSet::new();
        for n in &c.notice {
            let codes = registered
                .iter()
                .filter(|(on, code)| *on <= n.on && (n.results || !announced.contains(code)))
                .map(|(_, code)| *code)
                .collect::<Vec<_>>();
            if !n.results {
                announced.extend(codes.iter().copied());
            }
            notices.push(Step {
                node: &c.code,
                on: n.on,
                action: Action::Publish {
                    doc_no: n.doc.clone(),
                    title: n.title.clone(),
                    records: Published::Projects(codes.into_iter().cloned().collect()),
                },
            });
        }
    }
    out.extend(notices);
}

/// Voucher numbers run per county in the order of payment.
fn number_vouchers(steps: &mut [Step]) {
    let mut next: BTreeMap<&str, u32> = BTreeMap::new();
    for s in steps {
        if let Action::Payment { voucher_no, .. } = &mut s.action {
            // The reconstructed years' payments carry their own numbers.
            if !voucher_no.is_empty() {
                continue;
            }
            let n = next.entry(s.node).or_insert(0);
            *n = n.saturating_add(1);
            *voucher_no = format!("ZF2020-{}-{:04}", s.node, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::{Datelike, NaiveDate};
    use fundsync_protocol::body::{
        AllocationIssued, CarryOverExplained, EvaluationReportCompiled, FundsReceived,
        IndicatorEvaluation, OwnBudgetAdded, PaymentRecorded, ProjectRegistered,
        ProjectStatusChanged, PublicationScope, ResultsPublished, SelfEvaluationRecorded,
        TargetActualRecorded, TargetSet, TargetsApproved, TargetsReviewed,
    };
    use fundsync_protocol::{Amount, Body, EntryId, FundOrigin, Level, NodeCode};
    use rust_decimal::{Decimal, RoundingStrategy};

    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Received,
        Own,
        Issued,
    }

    #[derive(Debug)]
    struct Alloc {
        holder: &'static str,
        doc: String,
        category: &'static str,
        kind: Kind,
        from: Option<&'static str>,
        on: NaiveDate,
        amount: Decimal,
        /// Carved from (index into `allocs`).
        source: Option<usize>,
    }

    #[derive(Debug)]
    struct Paid {
        alloc: usize,
        on: NaiveDate,
        amount: Decimal,
    }

    /// The ledger's rules, redone on the plan alone.
    #[derive(Debug, Default)]
    struct Sim {
        allocs: Vec<Alloc>,
        paid: Vec<Paid>,
        /// (county, project code) → number of targets so far.
        projects: BTreeMap<(&'static str, String), usize>,
        vouchers: BTreeSet<(&'static str, String)>,
    }

    fn origins() -> BTreeMap<String, FundOrigin> {
        fundsync_node::catalog::shipped()
            .into_iter()
            .map(|c| (c.code, c.origin))
            .collect()
    }

    fn origin(category: &str) -> FundOrigin {
        *origins()
            .get(category)
            .unwrap_or_else(|| panic!("category {category} is in the catalog"))
    }

    fn parent(code: &str) -> Option<&'static str> {
        nodes()
            .expect("the plan loads")
            .into_iter()
            .find(|n| n.code == code)?
            .parent
    }

    fn level(code: &str) -> Level {
        nodes()
            .expect("the plan loads")
            .into_iter()
            .find(|n| n.code == code)
            .map(|n| n.level)
            .unwrap_or_else(|| panic!("{code} is a node"))
    }

    impl Sim {
        fn find(&self, holder: &str, doc: &str, category: &str) -> Option<usize> {
            self.allocs
                .iter()
                .position(|a| a.holder == holder && a.doc == doc && a.category == category)
        }

        fn used(&self, i: usize) -> Decimal {
            let issued: Decimal = self
                .allocs
                .iter()
                .filter(|a| a.source == Some(i))
                .map(|a| a.amount)
                .sum();
            let paid: Decimal = self
                .paid
                .iter()
                .filter(|p| p.alloc == i)
                .map(|p| p.amount)
                .sum();
            issued + paid
        }

        fn available(&self, i: usize) -> Decimal {
            self.allocs[i].amount - self.used(i)
        }

        fn add(&mut self, a: Alloc) -> Result<(), String> {
            if self.find(a.holder, &a.doc, a.category).is_some() {
                return Err(format!(
                    "{} already holds {} {}",
                    a.holder, a.doc, a.category
                ));
            }
            self.allocs.push(a);
            Ok(())
        }

        fn apply(&mut self, s: &Step) -> Result<(), String> {
            match &s.action {
                Action::FundsReceived {
                    doc_no,
                    category,
                    amount,
                    ..
                } => {
                    if parent(s.node).is_some() {
                        return Err("only the top node receives from the centre".into());
                    }
                    if origin(category) != FundOrigin::Central {
                        return Err(format!("{category} is not central"));
                    }
                    self.add(Alloc {
                        holder: s.node,
                        doc: doc_no.clone(),
                        category,
                        kind: Kind::Received,
                        from: None,
                        on: s.on,
                        amount: *amount,
                        source: None,
                    })
                }
                Action::OwnBudget {
                    doc_no,
                    category,
                    amount,
                    ..
                } => {
                    let l = level(s.node);
                    let o = origin(category);
                    if o != l.own_origin() && !(l == Level::Region && o == FundOrigin::Bond) {
                        return Err(format!("{category} ({o}) is not a {l} own budget"));
                    }
                    self.add(Alloc {
                        holder: s.node,
                        doc: doc_no.clone(),
                        category,
                        kind: Kind::Own,
                        from: None,
                        on: s.on,
                        amount: *amount,
                        source: None,
                    })
                }
                Action::Issue {
                    doc_no,
                    source_doc,
                    category,
                    to,
                    amount,
                    ..
                } => {
                    if parent(to) != Some(s.node) {
                        return Err(format!("{to} is not a child of {}", s.node));
                    }
                    let src = self
                        .find(s.node, source_doc, category)
                        .ok_or_else(|| format!("no source {source_doc} {category}"))?;
                    if self.available(src) < *amount {
                        return Err(format!(
                            "over-allocation from {source_doc} {category}: {} left, {amount} asked",
                            self.available(src)
                        ));
                    }
                    self.add(Alloc {
                        holder: to,
                        doc: doc_no.clone(),
                        category,
                        kind: Kind::Issued,
                        from: Some(s.node),
                        on: s.on,
                        amount: *amount,
                        source: Some(src),
                    })
                }
                Action::Project { code, .. } => {
                    // At the counties; at the prefecture only its
                    // reconstructed years (seed 002 一).
                    let history = s.node == PREFECTURE && s.on.year() < 2020;
                    if level(s.node) != Level::County && !history {
                        return Err("projects are registered at counties".into());
                    }
                    match self.projects.insert((s.node, code.clone()), 0) {
                        None => Ok(()),
                        Some(_) => Err(format!("project {code} twice")),
                    }
                }
                Action::Target {
                    project,
                    level1,
                    level2,
                    ..
                } => {
                    if level2.level1() != *level1 {
                        return Err(format!("{level2:?} is not under {level1:?}"));
                    }
                    let n = self
                        .projects
                        .get_mut(&(s.node, project.clone()))
                        .ok_or_else(|| format!("target of unknown project {project}"))?;
                    *n += 1;
                    Ok(())
                }
                Action::ProjectStatus { project, .. } => self
                    .projects
                    .get(&(s.node, project.clone()))
                    .map(|_| ())
                    .ok_or_else(|| format!("status of unknown project {project}")),
                Action::TargetsReviewed { project } | Action::TargetsApproved { project, .. } => {
                    match self.projects.get(&(s.node, project.clone())) {
                        Some(n) if *n > 0 => Ok(()),
                        _ => Err(format!("review or approval of {project} without targets")),
                    }
                }
                Action::Payment {
                    voucher_no,
                    amount,
                    alloc_doc,
                    alloc_category,
                    project,
                    ..
                } => {
                    match self.projects.get(&(s.node, project.clone())) {
                        Some(n) if *n > 0 => {}
                        Some(_) => return Err(format!("{project} has no target yet")),
                        None => return Err(format!("unknown project {project}")),
                    }
                    if !self.vouchers.insert((s.node, voucher_no.clone())) {
                        return Err(format!("voucher {voucher_no} twice"));
                    }
                    let a = self
                        .find(s.node, alloc_doc, alloc_category)
                        .ok_or_else(|| format!("no allocation {alloc_doc} {alloc_category}"))?;
                    if self.available(a) < *amount {
                        return Err(format!(
                            "over-balance on {alloc_doc} {alloc_category}: {} left, {amount} asked",
                            self.available(a)
                        ));
                    }
                    self.paid.push(Paid {
                        alloc: a,
                        on: s.on,
                        amount: *amount,
                    });
                    Ok(())
                }
                // The ledger's rule for a reason: an allocation the node
                // holds, with that much left on the day.
                Action::CarryOver {
                    alloc_doc,
                    alloc_category,
                    amount,
                    planned_on,
                    ..
                } => {
                    let a = self
                        .find(s.node, alloc_doc, alloc_category)
                        .ok_or_else(|| format!("no allocation {alloc_doc} {alloc_category}"))?;
                    if *planned_on < s.on {
                        return Err(format!("planned on {planned_on}, before {}", s.on));
                    }
                    if self.balance(a, s.on) < *amount {
                        return Err(format!(
                            "carry-over {amount} over the balance {} of {alloc_doc}",
                            self.balance(a, s.on)
                        ));
                    }
                    Ok(())
                }
                // The ledger's rules for a notice: the node's own records,
                // an allocation issued (not received or budgeted) dated no
                // later than the notice, a project of its library.
                Action::Publish { records, .. } => match records {
                    Published::Allocations(v) if !v.is_empty() => {
                        for r in v {
                            let i = self
                                .find(r.to, &r.doc_no, r.category)
                                .ok_or_else(|| format!("{} holds no {}", r.to, r.doc_no))?;
                            let a = &self.allocs[i];
                            if a.from != Some(s.node) || a.kind != Kind::Issued || a.on > s.on {
                                return Err(format!("{a:?} is not publishable on {}", s.on));
                            }
                        }
                        Ok(())
                    }
                    Published::Projects(v) if !v.is_empty() => v
                        .iter()
                        .find(|c| !self.projects.contains_key(&(s.node, (*c).clone())))
                        .map_or(Ok(()), |c| Err(format!("publishes unknown project {c}"))),
                    _ => Err("a notice of nothing".into()),
                },
                // An actual and an evaluation of a project with targets; a
                // report at any level (the runner waits for what it covers).
                Action::TargetActual { project, .. } | Action::SelfEvaluation { project, .. } => {
                    match self.projects.get(&(s.node, project.clone())) {
                        Some(n) if *n > 0 => Ok(()),
                        _ => Err(format!("actual or evaluation of {project} without targets")),
                    }
                }
                Action::EvaluationReport { .. } => Ok(()),
            }
        }

        fn run() -> Sim {
            let mut sim = Sim::default();
            for (i, s) in steps().expect("the plan loads").iter().enumerate() {
                if let Err(e) = sim.apply(s) {
                    panic!("step {i} at {} on {}: {e}\n{s:?}", s.node, s.on);
                }
            }
            sim
        }

        fn matches(&self, i: usize, funds: &Funds) -> bool {
            let a = &self.allocs[i];
            match funds {
                Funds::All => true,
                Funds::Origin(o) => origin(a.category) == *o,
                Funds::Categories(v) => v.contains(&a.category),
                Funds::Allocations(v) => v
                    .iter()
                    .any(|r| r.doc_no == a.doc && r.category == a.category),
            }
        }

        /// Balance of allocation `i` on `day`.
        fn balance(&self, i: usize, day: NaiveDate) -> Decimal {
            let issued: Decimal = self
                .allocs
                .iter()
                .filter(|a| a.source == Some(i) && a.on <= day)
                .map(|a| a.amount)
                .sum();
            let paid: Decimal = self
                .paid
                .iter()
                .filter(|p| p.alloc == i && p.on <= day)
                .map(|p| p.amount)
                .sum();
            self.allocs[i].amount - issued - paid
        }

        fn figure(&self, node: &str, funds: &Funds, figure: Figure) -> Decimal {
            let idx = 0..self.allocs.len();
            let sum = |keep: &dyn Fn(&Alloc) -> bool| -> Decimal {
                idx.clone()
                    .filter(|&i| keep(&self.allocs[i]) && self.matches(i, funds))
                    .map(|i| self.allocs[i].amount)
                    .sum()
            };
            match figure {
                Figure::IssuedOn(d) => sum(&|a| a.from == Some(node) && a.on == d),
                Figure::IssuedUpTo(d) => sum(&|a| a.from == Some(node) && a.on <= d),
                Figure::ReceivedUpTo(d) => {
                    sum(&|a| a.holder == node && a.kind != Kind::Own && a.on <= d)
                }
                Figure::OwnBudgetUpTo(d) => {
                    sum(&|a| a.holder == node && a.kind == Kind::Own && a.on <= d)
                }
                Figure::OwnBudgetIn(y) => {
                    sum(&|a| a.holder == node && a.kind == Kind::Own && a.on.year() == y)
                }
                Figure::BalanceOn(d) => idx
                    .filter(|&i| {
                        let a = &self.allocs[i];
                        a.holder == node && a.on <= d && self.matches(i, funds)
                    })
                    .map(|i| self.balance(i, d))
                    .sum(),
                Figure::SubtreeBalanceOn(d) => nodes()
                    .expect("the plan loads")
                    .iter()
                    .filter(|n| {
                        n.code == node
                            || n.parent == Some(node)
                            || n.parent.and_then(parent) == Some(node)
                    })
                    .map(|n| self.figure(n.code, funds, Figure::BalanceOn(d)))
                    .sum(),
            }
        }
    }

    fn wan_of(yuan: Decimal) -> Decimal {
        yuan / Decimal::from(10_000)
    }

    #[test]
    fn steps_respect_the_ledger_rules() {
        let sim = Sim::run();
        // Everything from above reached the counties.
        for (i, a) in sim.allocs.iter().enumerate() {
            if a.holder == REGION || a.holder == PREFECTURE {
                assert_eq!(sim.available(i), Decimal::ZERO, "{a:?} fully issued");
            }
        }
    }

    #[test]
    fn every_expected_figure_is_reproduced_by_the_steps() {
        let sim = Sim::run();
        let all = expected().expect("the plan loads");
        assert!(all.len() > 80, "{} figures", all.len());
        for e in &all {
            let got = sim.figure(e.node, &e.funds, e.figure);
            assert_eq!(got, e.yuan, "{} / {}", e.label_zh, e.label_en);
        }
    }

    #[test]
    fn exact_figures_round_to_what_the_seed_prints() {
        let mut differ = Vec::new();
        for e in expected().expect("the plan loads") {
            let w = wan_of(e.yuan);
            let printed = w
                .round_dp_with_strategy(e.seed_wan.scale(), RoundingStrategy::MidpointAwayFromZero);
            assert_eq!(printed, e.seed_wan, "{}", e.label_zh);
            if w != e.seed_wan {
                differ.push(e.seed_wan.to_string());
            }
        }
        // Only the roundings the module docs explain.
        differ.sort();
        assert_eq!(
            differ,
            ["1441.16", "393.88", "40.38", "566.33", "61.75"],
            "figures that differ from the printed ones"
        );
    }

    #[test]
    fn the_domain_tables_add_up() {
        let sim = Sim::run();
        let f = |node: &str, funds: Funds, figure| wan_of(sim.figure(node, &funds, figure));
        let upto = Figure::IssuedUpTo(LAST_BATCH_ON);
        // Batch totals add up to 107941; the county rows to the columns.
        let batches: Decimal = scenario()
            .expect("the plan loads")
            .above
            .batch
            .iter()
            .map(|b| f(PREFECTURE, Funds::All, Figure::IssuedOn(b.on)))
            .sum();
        assert_eq!(batches, Decimal::from(107_941));
        let counties: Decimal = scenario()
            .expect("the plan loads")
            .counties
            .iter()
            .map(|c| f(&c.code, Funds::All, Figure::ReceivedUpTo(LAST_BATCH_ON)))
            .sum();
        assert_eq!(counties, Decimal::from(107_941));
        assert_eq!(f(PREFECTURE, Funds::All, upto), Decimal::from(107_941));
        // Nothing is issued on any other day.
        let days: BTreeSet<NaiveDate> = sim
            .allocs
            .iter()
            .filter(|a| a.from == Some(PREFECTURE))
            .map(|a| a.on)
            .collect();
        assert_eq!(
            days,
            scenario()
                .expect("the plan loads")
                .above
                .batch
                .iter()
                .map(|b| b.on)
                .collect()
        );
        // The region passes on exactly what it got and budgeted.
        assert_eq!(
            f(REGION, Funds::All, Figure::IssuedUpTo(LAST_BATCH_ON)),
            Decimal::from(104_041)
        );
    }

    #[test]
    fn carry_over_at_the_prefecture_is_the_counties_sum() {
        let sim = Sim::run();
        let counties: Decimal = scenario()
            .expect("the plan loads")
            .counties
            .iter()
            .map(|c| sim.figure(&c.code, &Funds::All, Figure::BalanceOn(CARRY_OVER_ON)))
            .sum();
        assert_eq!(counties, wan("1441.162302"));
        assert_eq!(
            sim.figure(PREFECTURE, &Funds::All, Figure::BalanceOn(CARRY_OVER_ON)),
            Decimal::ZERO
        );
        // By origin, the seed's parts: 轮台 central 7.36, bonds 126.44, county 557.73 …
        let by = |code: &str, o: FundOrigin| {
            wan_of(sim.figure(code, &Funds::Origin(o), Figure::BalanceOn(CARRY_OVER_ON)))
        };
        assert_eq!(by("652822", FundOrigin::Region), Decimal::ZERO);
        assert_eq!(by("652822", FundOrigin::Prefecture), Decimal::ZERO);
        assert_eq!(by("652823", FundOrigin::Bond), Decimal::ZERO);
        assert_eq!(by("652824", FundOrigin::Prefecture), Decimal::ZERO);
        assert_eq!(by("652825", FundOrigin::Bond), Decimal::ZERO);
    }

    #[test]
    fn year_end_leaves_only_retention_and_savings() {
        let sim = Sim::run();
        let end = day(2020, 12, 31);
        let bal = |code: &str| wan_of(sim.figure(code, &Funds::All, Figure::BalanceOn(end)));
        // 轮台 paid its carry-over by mid-October (seed 002 §四 1).
        assert_eq!(bal("652822"), Decimal::ZERO);
        // 尉犁 and 且末 hold quality-guarantee retention into 2021.
        assert_eq!(bal("652823"), wan_of(wan("40.376")));
        assert_eq!(bal("652825"), wan_of(wan("566.334")));
        // 若羌 holds its retention (26.038301) and savings (2.89).
        assert_eq!(bal("652824"), wan_of(wan("28.928301")));
        for c in ["652801", "652826", "652827", "652828", "652829"] {
            assert_eq!(bal(c), Decimal::ZERO, "{c}");
        }
    }

    #[test]
    fn issues_come_within_five_days_of_receipt() {
        let sim = Sim::run();
        for (i, a) in sim.allocs.iter().enumerate() {
            if a.holder != REGION && a.holder != PREFECTURE {
                continue;
            }
            for c in sim.allocs.iter().filter(|c| c.source == Some(i)) {
                let days = (c.on - a.on).num_days();
                assert!(
                    (0..=5).contains(&days),
                    "{} {} → {}: {days} days",
                    a.doc,
                    a.category,
                    c.doc
                );
            }
        }
    }

    #[test]
    fn payments_follow_a_target_and_vouchers_are_unique_per_county() {
        let mut targets: BTreeSet<(&str, String)> = BTreeSet::new();
        let mut vouchers: BTreeSet<(&str, String)> = BTreeSet::new();
        // Reviewed, then approved, then started (seed 003 §7–9).
        let mut reviewed: BTreeSet<(&str, String)> = BTreeSet::new();
        let mut approved: BTreeSet<(&str, String)> = BTreeSet::new();
        let mut started: BTreeSet<(&str, String)> = BTreeSet::new();
        let mut payments = 0;
        for s in steps().expect("the plan loads") {
            match s.action {
                Action::Target { project, .. } => {
                    assert!(!reviewed.contains(&(s.node, project.clone())), "{project}");
                    targets.insert((s.node, project));
                }
                Action::TargetsReviewed { project } => {
                    assert!(targets.contains(&(s.node, project.clone())), "{project}");
                    reviewed.insert((s.node, project));
                }
                Action::TargetsApproved { project, .. } => {
                    assert!(reviewed.contains(&(s.node, project.clone())), "{project}");
                    approved.insert((s.node, project));
                }
                Action::ProjectStatus {
                    project,
                    status: ProjectStatus::InProgress,
                } => {
                    assert!(approved.contains(&(s.node, project.clone())), "{project}");
                    started.insert((s.node, project));
                }
                Action::Payment {
                    voucher_no,
                    project,
                    ..
                } => {
                    payments += 1;
                    assert!(targets.contains(&(s.node, project.clone())), "{project}");
                    assert!(started.contains(&(s.node, project.clone())), "{project}");
                    assert!(
                        vouchers.insert((s.node, voucher_no.clone())),
                        "{voucher_no}"
                    );
                }
                _ => {}
            }
        }
        assert!(payments > 100, "{payments} payments");
    }

    #[test]
    fn amounts_are_positive_fen_and_steps_are_dated_in_order() {
        let all = steps().expect("the plan loads");
        // 736 with the 49 carry-over reasons of 四(一); 1048 with each
        // project's review, approval and start (104 projects, seed 003 §7–9);
        // 1427 with each target's actual, each project's self-evaluation
        // and the reports of every department and level (seed 003 §13–14).
        assert!(all.len() < 1500, "{} steps", all.len());
        // From the prefecture's first reconstructed own budget (seed 002 一).
        let mut last = day(2016, 1, 1);
        for s in &all {
            assert!(s.on >= last, "{s:?} out of order");
            assert!(s.on <= day(2020, 12, 31), "{s:?}");
            last = s.on;
            let amount = match &s.action {
                Action::FundsReceived { amount, .. }
                | Action::OwnBudget { amount, .. }
                | Action::Issue { amount, .. }
                | Action::Payment { amount, .. }
                | Action::CarryOver { amount, .. } => Some(*amount),
                Action::Project {
                    budget,
                    starts_on,
                    ends_on,
                    ..
                } => {
                    assert!(starts_on <= ends_on);
                    assert_eq!(*starts_on, s.on);
                    Some(*budget)
                }
                _ => None,
            };
            if let Some(a) = amount {
                assert!(a > Decimal::ZERO, "{s:?}");
                assert!(a.normalize().scale() <= 2, "{s:?}");
            }
        }
    }

    #[test]
    fn projects_are_paid_within_their_budget() {
        let mut budget: BTreeMap<(&str, String), Decimal> = BTreeMap::new();
        let mut paid: BTreeMap<(&str, String), Decimal> = BTreeMap::new();
        for s in steps().expect("the plan loads") {
            match s.action {
                Action::Project {
                    code, budget: b, ..
                } => {
                    budget.insert((s.node, code), b);
                }
                Action::Payment {
                    project, amount, ..
                } => {
                    *paid.entry((s.node, project)).or_default() += amount;
                }
                _ => {}
            }
        }
        for (k, p) in &paid {
            assert!(p <= &budget[k], "{k:?} paid {p} over budget {}", budget[k]);
        }
        // Every project receives money in 2020.
        assert_eq!(budget.len(), paid.len());
    }

    #[test]
    fn nodes_form_the_tree_and_categories_exist() {
        let all = nodes().expect("the plan loads");
        assert_eq!(all.len(), 11);
        for n in &all {
            let code: NodeCode = n.code.parse().expect("a division code");
            if let Some(p) = n.parent {
                let parent: NodeCode = p.parse().expect("a division code");
                let pl = level(p);
                assert_eq!(pl.child(), Some(n.level));
                assert!(parent.contains(pl, &code), "{} in {p}", n.code);
            }
        }
        assert!(all.iter().any(|n| n.name == "焉耆回族自治县"));
        let known = origins();
        for s in steps().expect("the plan loads") {
            let c = match s.action {
                Action::FundsReceived { category, .. }
                | Action::OwnBudget { category, .. }
                | Action::Issue { category, .. } => category,
                Action::Payment { alloc_category, .. } => alloc_category,
                _ => continue,
            };
            assert!(known.contains_key(c), "{c}");
        }
        assert_eq!(known.get(COUNTY_DEV), Some(&FundOrigin::County));
    }

    /// Each step builds a body the protocol accepts (text limits, level
    /// pairs, amounts), with placeholder entry ids.
    #[test]
    fn every_step_makes_a_valid_body() {
        let id: EntryId = "650000-1".parse().expect("an entry id");
        let amount = |a: Decimal| Amount::new(a).expect("a valid amount");
        for s in steps().expect("the plan loads") {
            let body = match s.action {
                Action::FundsReceived {
                    doc_no,
                    category,
                    amount: a,
                    source,
                    title,
                } => Body::FundsReceived(FundsReceived {
                    doc_no,
                    category: category.into(),
                    amount: amount(a),
                    received_on: s.on,
                    source,
                    title,
                }),
                Action::OwnBudget {
                    doc_no,
                    category,
                    amount: a,
                    title,
                } => Body::OwnBudgetAdded(OwnBudgetAdded {
                    doc_no,
                    category: category.into(),
                    amount: amount(a),
                    budgeted_on: s.on,
                    title,
                }),
                Action::Issue {
                    doc_no,
                    category,
                    to,
                    amount: a,
                    title,
                    ..
                } => Body::AllocationIssued(AllocationIssued {
                    doc_no,
                    source: id,
                    category: category.into(),
                    to: to.parse().expect("a division code"),
                    amount: amount(a),
                    issued_on: s.on,
                    title,
                }),
                Action::Project {
                    code,
                    name,
                    township,
                    village,
                    department,
                    starts_on,
                    ends_on,
                    budget,
                    status,
                } => Body::ProjectRegistered(ProjectRegistered {
                    code,
                    name,
                    township,
                    village,
                    department,
                    starts_on,
                    ends_on,
                    budget: amount(budget),
                    status,
                }),
                Action::ProjectStatus { project, status } => {
                    Body::ProjectStatusChanged(ProjectStatusChanged { project, status })
                }
                Action::TargetsReviewed { project } => Body::TargetsReviewed(TargetsReviewed {
                    project,
                    submissions: vec![id],
                    reviewed_on: s.on,
                    necessity: true,
                    relevance: true,
                    fit: true,
                    reasons: String::new(),
                }),
                Action::TargetsApproved { project, doc_no } => {
                    Body::TargetsApproved(TargetsApproved {
                        project,
                        submissions: vec![id],
                        doc_no,
                        approved_on: s.on,
                    })
                }
                Action::Target {
                    project,
                    level1,
                    level2,
                    indicator,
                    op,
                    value,
                    unit,
                } => Body::TargetSet(TargetSet {
                    project,
                    level1,
                    level2,
                    indicator,
                    op,
                    value,
                    unit,
                }),
                Action::Payment {
                    voucher_no,
                    payer,
                    payee_name,
                    payee_account,
                    payee_bank,
                    amount: a,
                    function_class,
                    project,
                    purpose,
                    ..
                } => Body::PaymentRecorded(PaymentRecorded {
                    voucher_no,
                    paid_on: s.on,
                    payer,
                    payee_name,
                    payee_account,
                    payee_bank,
                    amount: amount(a),
                    function_class,
                    allocation: id,
                    project,
                    purpose,
                }),
                Action::CarryOver {
                    project,
                    reason,
                    amount: a,
                    planned_on,
                    note,
                    ..
                } => Body::CarryOverExplained(CarryOverExplained {
                    allocation: id,
                    as_of: s.on,
                    reason,
                    amount: amount(a),
                    planned_on,
                    project,
                    note,
                }),
                Action::Publish {
                    doc_no,
                    title,
                    records,
                } => {
                    let (scope, n) = match &records {
                        Published::Allocations(v) => (PublicationScope::Allocations, v.len()),
                        Published::Projects(v) => (PublicationScope::Projects, v.len()),
                    };
                    Body::ResultsPublished(ResultsPublished {
                        doc_no,
                        title,
                        scope,
                        published_on: s.on,
                        records: (1..=n)
                            .map(|seq| EntryId {
                                origin: id.origin,
                                seq: u64::try_from(seq).expect("seq"),
                            })
                            .collect(),
                    })
                }
                Action::TargetActual {
                    actual,
                    note,
                    evidence,
                    ..
                } => Body::TargetActualRecorded(TargetActualRecorded {
                    target: id,
                    actual,
                    recorded_on: s.on,
                    note,
                    evidence,
                }),
                Action::SelfEvaluation {
                    project,
                    year,
                    measures,
                } => Body::SelfEvaluationRecorded(SelfEvaluationRecorded {
                    project,
                    year,
                    indicators: vec![IndicatorEvaluation {
                        target: id,
                        actual: Decimal::ONE,
                        completion: Decimal::ONE_HUNDRED,
                    }],
                    shortfall: String::new(),
                    measures,
                    evaluated_on: s.on,
                }),
                Action::EvaluationReport {
                    year,
                    scope,
                    department,
                    summary,
                    ..
                } => Body::EvaluationReportCompiled(EvaluationReportCompiled {
                    year,
                    scope,
                    department,
                    evaluations: vec![id],
                    reports: vec![],
                    indicators: 1,
                    met: 1,
                    funds: Decimal::ONE,
                    summary,
                    compiled_on: s.on,
                }),
            };
            assert_eq!(body.validate(), Ok(()), "{body:?}");
        }
    }

    /// 两个一律: every allocation the region and the prefecture issue is in
    /// exactly one notice of allocation results, published within ten days
    /// of the issue (and never before it), and none is of a classified
    /// (涉密) category; the notices' 文号 are unique per node.
    #[test]
    fn every_allocation_issued_is_published_once_soon_after() {
        let all = steps().expect("the plan loads");
        let classified: BTreeSet<String> = fundsync_node::catalog::shipped()
            .into_iter()
            .filter(|c| c.classified)
            .map(|c| c.code)
            .collect();
        let mut issued: BTreeMap<(&str, &str, &str, &str), NaiveDate> = BTreeMap::new();
        for s in &all {
            if let Action::Issue {
                doc_no,
                category,
                to,
                ..
            } = &s.action
            {
                issued.insert((s.node, doc_no.as_str(), *category, *to), s.on);
            }
        }
        let mut published: BTreeMap<(&str, &str, &str, &str), usize> = BTreeMap::new();
        let mut docs: BTreeSet<(&str, &str)> = BTreeSet::new();
        for s in &all {
            let Action::Publish {
                doc_no, records, ..
            } = &s.action
            else {
                continue;
            };
            assert!(docs.insert((s.node, doc_no.as_str())), "{doc_no} twice");
            let Published::Allocations(v) = records else {
                continue;
            };
            for r in v {
                let key = (s.node, r.doc_no.as_str(), r.category, r.to);
                let on = issued[&key];
                let days = (s.on - on).num_days();
                assert!(
                    (0..=10).contains(&days),
                    "{r:?}: published {days} days after"
                );
                assert!(!classified.contains(r.category), "{r:?} is 涉密");
                *published.entry(key).or_default() += 1;
            }
        }
        assert_eq!(published.len(), issued.len(), "every allocation issued");
        assert!(published.values().all(|n| *n == 1), "{published:?}");
        assert!(issued.keys().any(|k| k.0 == REGION) && issued.keys().any(|k| k.0 == PREFECTURE));
    }

    /// Every project of a county is announced by exactly one arrangement
    /// notice on or after its registration, and again by the county's
    /// results notice, which comes after every other step of the county (so
    /// it shows the year's payments and completions).
    #[test]
    fn every_project_is_announced_and_its_results_published_last() {
        let all = steps().expect("the plan loads");
        for c in &scenario().expect("the plan loads").counties {
            let mine: Vec<(usize, &Step)> = all
                .iter()
                .enumerate()
                .filter(|(_, s)| s.node == c.code)
                .collect();
            let projects: BTreeSet<&String> = mine
                .iter()
                .filter_map(|(_, s)| match &s.action {
                    Action::Project { code, .. } => Some(code),
                    _ => None,
                })
                .collect();
            let mut arranged: BTreeMap<&String, usize> = BTreeMap::new();
            let mut results = Vec::new();
            for (i, s) in &mine {
                let Action::Publish { title, records, .. } = &s.action else {
                    continue;
                };
                let Published::Projects(codes) = records else {
                    panic!("{}: a county publishes projects, not {records:?}", c.code);
                };
                if title.contains("结果") {
                    results.push((*i, codes));
                } else {
                    for code in codes {
                        *arranged.entry(code).or_default() += 1;
                    }
                }
            }
            assert_eq!(arranged.len(), projects.len(), "{}: every project", c.code);
            assert!(
                arranged.values().all(|n| *n == 1),
                "{}: {arranged:?}",
                c.code
            );
            assert_eq!(results.len(), 1, "{}: one results notice", c.code);
            let (at, codes) = results[0];
            assert_eq!(
                codes.iter().collect::<BTreeSet<_>>(),
                projects,
                "{}",
                c.code
            );
            let last_other = mine
                .iter()
                .filter(|(_, s)| !matches!(s.action, Action::Publish { .. }))
                .map(|(i, _)| *i)
                .max()
                .expect("a county has steps");
            assert!(at > last_other, "{}: results before the year's end", c.code);
        }
    }

    /// What the loader would otherwise turn into zeros or empty text: every
    /// kind named, a share for every category of every batch, a batch for
    /// every use.
    #[test]
    fn the_data_files_name_only_what_they_define() {
        let s = scenario().expect("the plan loads");
        assert_eq!(s.above.batch.len(), 7);
        // A notice per document issued, at the region and the prefecture.
        assert_eq!(s.above.region_notice.len(), 6);
        assert_eq!(s.above.prefecture_notice.len(), s.above.batch.len());
        for c in &s.counties {
            for b in &s.above.batch {
                let n = c.shares.get(&b.id).map_or(0, Vec::len);
                assert_eq!(n, b.categories.len(), "{} shares of {:?}", c.code, b.id);
            }
            assert_eq!(c.shares.len(), s.above.batch.len(), "{}", c.code);
            assert_eq!(
                c.notice.len(),
                3,
                "{}: two arrangements, one result",
                c.code
            );
            for p in &c.projects {
                assert!(s.kinds.contains_key(&p.kind), "{}: kind {}", p.name, p.kind);
                assert!(p.size > 0, "{}", p.name);
                for u in &p.uses {
                    let known = u.batch == Batch::CountyOwn || s.batch(u.batch).is_some();
                    assert!(known, "{}: {:?}", p.name, u.batch);
                }
            }
        }
        for (name, k) in &s.kinds {
            assert_eq!(k.targets.len(), 2, "{name}");
            assert!(k.targets.iter().any(|t| t.value.is_none()), "{name}");
        }
    }

    /// (Was a test of `warnings::rules` in the node.) The 2020 demo data (seed 002) passes every batch on within 5 days:
    /// evaluated at the year end, the region and the prefecture have no
    /// deadline finding; one batch a day later would have one.
    #[test]
    fn the_demo_plan_has_no_deadline_findings() {
        use chrono::Days;
        use fundsync_node::warnings::rules::{evaluate, AllocFacts, AllocKind, Facts};
        use fundsync_node::warnings::{Rule, WarningsConfig};
        use Action as Step;

        let code = |s: &str| -> NodeCode { s.parse().expect("code") };

        let fen = |d: Decimal| Amount::new(d).expect("amount").fen();
        let steps = steps().expect("the plan loads");
        let held_by = |node: &str, shift: Option<&str>| -> Vec<AllocFacts> {
            let mut held = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                let seq = u64::try_from(i + 1).expect("seq");
                let (kind, doc, category, amount) = match &s.action {
                    Step::FundsReceived {
                        doc_no,
                        category,
                        amount,
                        ..
                    } if s.node == node => (AllocKind::Received, doc_no, *category, *amount),
                    Step::OwnBudget {
                        doc_no,
                        category,
                        amount,
                        ..
                    } if s.node == node => (AllocKind::OwnBudget, doc_no, *category, *amount),
                    Step::Issue {
                        doc_no,
                        category,
                        to,
                        amount,
                        ..
                    } if *to == node => (AllocKind::Issued, doc_no, *category, *amount),
                    _ => continue,
                };
                // What the node issued from it, by source document.
                let mut issues = Vec::new();
                for t in &steps {
                    if let Step::Issue {
                        source_doc,
                        category: c,
                        amount: a,
                        ..
                    } = &t.action
                    {
                        if t.node == node && source_doc == doc && c == &category {
                            let mut on = t.on;
                            if shift == Some(doc.as_str()) {
                                on = on + Days::new(5);
                            }
                            issues.push((on, fen(*a)));
                        }
                    }
                }
                let issued = issues.iter().map(|(_, f)| *f).sum();
                held.push(AllocFacts {
                    id: EntryId {
                        origin: code(node),
                        seq,
                    },
                    kind,
                    doc_no: doc.clone(),
                    category: category.into(),
                    dated: s.on,
                    amount_fen: fen(amount),
                    issued_fen: issued,
                    paid_fen: 0,
                    issues,
                    paid_days: Vec::new(),
                });
            }
            held
        };
        let findings = |node: &str, shift: Option<&str>| {
            let held = held_by(node, shift);
            assert!(held.len() >= 5, "{node} holds {}", held.len());
            evaluate(
                &Facts {
                    me: code(node),
                    has_children: true,
                    today: day(2020, 12, 31),
                    now_ms: 0,
                    allocations: &held,
                    projects: &[],
                    targets: &[],
                    payments: &[],
                    children: &[],
                },
                &WarningsConfig::default(),
            )
            .expect("no overflow")
            .into_iter()
            .filter(|f| f.rule == Rule::IssueDeadline)
            .collect::<Vec<_>>()
        };
        for node in [REGION, PREFECTURE] {
            let f = findings(node, None);
            assert!(f.is_empty(), "{node}: {f:#?}");
        }
        // Not vacuous: the prefecture's share of the region's 2020-04-22
        // batch issued five days later is late.
        let f = findings(PREFECTURE, Some("新财农〔2020〕27号"));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].past.is_some());
    }
}
