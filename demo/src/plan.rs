//! The 2020 Bayingol scenario (seed 002) as plain data: what the region
//! (650000), the prefecture 巴音郭楞蒙古自治州 (652800) and its nine counties
//! record, in the order they record it, and the figures of seed 002 that the
//! demo must reproduce.
//!
//! Why data and not code: the runner submits these steps through the ledger
//! like any client, so the demo exercises the real rules; the tests below redo
//! the seed's arithmetic on the data alone, so a wrong figure is caught here,
//! before any node starts.
//!
//! What comes from the seed: every batch (date, fund sources, total), every
//! county's total per fund source, the prefecture's own 3900 万元 and its split,
//! and the carry-over on 2020-09-25 per county and per fund source, with the
//! projects the seed names for it. What the plan chooses, because the seed does
//! not say: how each batch of 扶贫发展 funds splits between the counties (about
//! in proportion to each county's 扶贫发展 total), how the bonds split between
//! the two batches, document numbers, projects, payees and payment dates.
//!
//! Amounts are yuan (`Decimal`, at most 2 places). The seed writes 万元 with up
//! to 6 places; the data below keeps the seed's 万元 text, so it can be checked
//! against the seed by eye, and converts it (1 万元 = 10000 元).
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

use chrono::NaiveDate;
use fundsync_protocol::body::{ProjectStatus, TargetLevel1, TargetLevel2, TargetOp};
use fundsync_protocol::{FundOrigin, Level};
use rust_decimal::Decimal;

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
/// matching of bond projects). The catalog has no demo row for county funds;
/// this is seed 001's county-list item 扶贫专项资金 (origin county).
pub const COUNTY_DEV: &str = "S1-K-02";

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// Issued by the node to its children on exactly this day (one batch).
    IssuedOn(NaiveDate),
    /// Issued by the node to its children up to this day.
    IssuedUpTo(NaiveDate),
    /// Received by the node from its parent (at the region: from the centre).
    ReceivedUpTo(NaiveDate),
    /// The node's own-level budget.
    OwnBudgetUpTo(NaiveDate),
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
}

/// The region, the prefecture and its nine counties.
pub fn nodes() -> Vec<Node> {
    let mut out = vec![
        Node {
            code: REGION,
            name: "新疆维吾尔自治区",
            level: Level::Region,
            parent: None,
        },
        Node {
            code: PREFECTURE,
            name: "巴音郭楞蒙古自治州",
            level: Level::Prefecture,
            parent: Some(REGION),
        },
    ];
    out.extend(COUNTIES.iter().map(|c| Node {
        code: c.code,
        name: c.name,
        level: Level::County,
        parent: Some(PREFECTURE),
    }));
    out
}

/// Every step, in the order to submit it (by business date; on one day in the
/// order written).
pub fn steps() -> Vec<Step> {
    let mut out = Vec::new();
    region_steps(&mut out);
    prefecture_steps(&mut out);
    for c in &COUNTIES {
        county_steps(c, &mut out);
    }
    // Stable: steps of one day keep the order they were written in, which
    // puts every allocation before what is carved or paid from it.
    out.sort_by_key(|s| s.on);
    number_vouchers(&mut out);
    out
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

/// A day of 2020.
const fn d(m: u32, dd: u32) -> NaiveDate {
    day(2020, m, dd)
}

/// 万元 as written in the seed → yuan. A literal that is not a number or that
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
// The region and the prefecture

/// Funds from the centre, at the region: (day, document, category, 万元, title).
const CENTRE: [(NaiveDate, &str, &str, i64, &str); 5] = [
    (
        day(2019, 12, 2),
        "财农〔2019〕149号",
        CENTRAL_DEV,
        9990,
        "关于提前下达2020年中央财政专项扶贫资金预算的通知",
    ),
    (
        day(2019, 12, 2),
        "财农〔2019〕149号",
        CENTRAL_MINORITY,
        3124,
        "关于提前下达2020年中央财政专项扶贫资金预算的通知",
    ),
    (
        day(2019, 12, 2),
        "财农〔2019〕149号",
        CENTRAL_FARM,
        37,
        "关于提前下达2020年中央财政专项扶贫资金预算的通知",
    ),
    (
        d(4, 17),
        "财农〔2020〕21号",
        CENTRAL_DEV,
        9547,
        "关于下达2020年中央财政专项扶贫资金（新增）预算的通知",
    ),
    (
        d(5, 14),
        "财农〔2020〕38号",
        CENTRAL_DEV,
        1286,
        "关于下达2020年中央财政专项扶贫资金（奖励资金）预算的通知",
    ),
];

/// The region's own budget: its 扶贫发展 funds (10057) and the bonds (70000).
const REGION_OWN: [(NaiveDate, &str, &str, i64, &str); 4] = [
    (
        day(2019, 12, 24),
        "新财预〔2019〕196号",
        REGION_DEV,
        7657,
        "2020年自治区财政专项扶贫资金（提前告知）",
    ),
    (
        d(4, 23),
        "新财预〔2020〕45号",
        BONDS,
        40000,
        "2020年第一批地方政府债券资金用于支持脱贫攻坚项目",
    ),
    (
        d(5, 15),
        "新财预〔2020〕52号",
        REGION_DEV,
        2400,
        "2020年自治区财政专项扶贫资金（奖励资金）",
    ),
    (
        d(5, 28),
        "新财预〔2020〕58号",
        BONDS,
        30000,
        "2020年第二批地方政府债券资金用于支持脱贫攻坚项目",
    ),
];

/// The region passes each source to the prefecture in full, within 5 days:
/// (day, document, source document, category, 万元, title).
const REGION_ISSUES: [(NaiveDate, &str, &str, &str, i64, &str); 9] = [
    (
        day(2019, 12, 3),
        "新财农〔2019〕118号",
        "财农〔2019〕149号",
        CENTRAL_DEV,
        9990,
        "关于提前下达2020年中央财政专项扶贫资金的通知",
    ),
    (
        day(2019, 12, 3),
        "新财农〔2019〕118号",
        "财农〔2019〕149号",
        CENTRAL_MINORITY,
        3124,
        "关于提前下达2020年中央财政专项扶贫资金的通知",
    ),
    (
        day(2019, 12, 3),
        "新财农〔2019〕118号",
        "财农〔2019〕149号",
        CENTRAL_FARM,
        37,
        "关于提前下达2020年中央财政专项扶贫资金的通知",
    ),
    (
        day(2019, 12, 26),
        "新财农〔2019〕131号",
        "新财预〔2019〕196号",
        REGION_DEV,
        7657,
        "关于提前告知2020年自治区财政专项扶贫资金的通知",
    ),
    (
        d(4, 22),
        "新财农〔2020〕27号",
        "财农〔2020〕21号",
        CENTRAL_DEV,
        9547,
        "关于下达2020年中央财政专项扶贫资金（新增）的通知",
    ),
    (
        d(4, 25),
        "新财农〔2020〕31号",
        "新财预〔2020〕45号",
        BONDS,
        40000,
        "关于下达2020年第一批地方政府债券资金用于支持脱贫攻坚项目的通知",
    ),
    (
        d(5, 18),
        "新财农〔2020〕39号",
        "财农〔2020〕38号",
        CENTRAL_DEV,
        1286,
        "关于下达2020年中央和自治区财政专项扶贫资金（奖励资金）的通知",
    ),
    (
        d(5, 18),
        "新财农〔2020〕39号",
        "新财预〔2020〕52号",
        REGION_DEV,
        2400,
        "关于下达2020年中央和自治区财政专项扶贫资金（奖励资金）的通知",
    ),
    (
        d(6, 1),
        "新财农〔2020〕47号",
        "新财预〔2020〕58号",
        BONDS,
        30000,
        "关于下达2020年第二批地方政府债券资金用于支持脱贫攻坚项目的通知",
    ),
];

/// The prefecture's own budget for 2020 (seed 002: 3900 万元, issued 2020-02-04).
const PREFECTURE_OWN: (NaiveDate, &str, i64, &str) = (
    d(2, 4),
    "巴财预〔2020〕6号",
    3900,
    "2020年自治州本级财政专项扶贫资金",
);

/// The seven batches the prefecture issued to the counties (seed 002 §二),
/// plus the counties' own budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

use Batch::{
    Award, Bonds1, Bonds2, CentralAdditional, CentralAdvance, CountyOwn, PrefectureOwn,
    RegionAdvance,
};

#[derive(Debug)]
struct BatchInfo {
    batch: Batch,
    /// The day the prefecture issues it to the counties.
    on: NaiveDate,
    /// The prefecture's document, under which the counties hold it.
    doc: &'static str,
    title: &'static str,
    categories: &'static [&'static str],
    /// What the prefecture carves it from (the region's document, or its own
    /// budget's).
    source_doc: &'static str,
}

const BATCHES: [BatchInfo; 7] = [
    BatchInfo {
        batch: CentralAdvance,
        on: day(2019, 12, 6),
        doc: "巴财农〔2019〕62号",
        title: "关于提前下达2020年中央财政专项扶贫资金的通知",
        categories: &[CENTRAL_DEV, CENTRAL_MINORITY, CENTRAL_FARM],
        source_doc: "新财农〔2019〕118号",
    },
    BatchInfo {
        batch: RegionAdvance,
        on: day(2019, 12, 30),
        doc: "巴财农〔2019〕68号",
        title: "关于提前下达2020年自治区财政专项扶贫资金的通知",
        categories: &[REGION_DEV],
        source_doc: "新财农〔2019〕131号",
    },
    BatchInfo {
        batch: PrefectureOwn,
        on: d(2, 4),
        doc: "巴财农〔2020〕5号",
        title: "关于下达2020年自治州本级财政专项扶贫资金的通知",
        categories: &[PREFECTURE_DEV],
        source_doc: "巴财预〔2020〕6号",
    },
    BatchInfo {
        batch: CentralAdditional,
        on: d(4, 26),
        doc: "巴财农〔2020〕21号",
        title: "关于下达2020年中央财政专项扶贫资金（新增）的通知",
        categories: &[CENTRAL_DEV],
        source_doc: "新财农〔2020〕27号",
    },
    BatchInfo {
        batch: Bonds1,
        on: d(4, 29),
        doc: "巴财农〔2020〕23号",
        title: "关于下达2020年第一批地方政府债券资金用于支持脱贫攻坚项目的通知",
        categories: &[BONDS],
        source_doc: "新财农〔2020〕31号",
    },
    BatchInfo {
        batch: Award,
        on: d(5, 22),
        doc: "巴财农〔2020〕30号",
        title: "关于下达2020年中央和自治区财政专项扶贫资金（奖励资金）的通知",
        categories: &[CENTRAL_DEV, REGION_DEV],
        source_doc: "新财农〔2020〕39号",
    },
    BatchInfo {
        batch: Bonds2,
        on: d(6, 4),
        doc: "巴财农〔2020〕36号",
        title: "关于下达2020年第二批地方政府债券资金用于支持脱贫攻坚项目的通知",
        categories: &[BONDS],
        source_doc: "新财农〔2020〕47号",
    },
];

fn batch_info(b: Batch) -> Option<&'static BatchInfo> {
    BATCHES.iter().find(|i| i.batch == b)
}

/// A county's share of each batch, in whole 万元. The per-source totals and the
/// own-3900 shares are seed 002's; the split of 扶贫发展 (X-01 + X-04) between
/// batches and of the bonds between the two bond batches is the plan's, about
/// in proportion, with each batch's total exact.
#[derive(Debug, Clone, Copy)]
struct Shares {
    central_dev_advance: i64,
    minority: i64,
    farm: i64,
    region_dev_advance: i64,
    prefecture_own: i64,
    central_dev_additional: i64,
    bonds1: i64,
    central_dev_award: i64,
    region_dev_award: i64,
    bonds2: i64,
}

impl Shares {
    fn get(&self, batch: Batch, category: &str) -> i64 {
        match (batch, category) {
            (CentralAdvance, CENTRAL_DEV) => self.central_dev_advance,
            (CentralAdvance, CENTRAL_MINORITY) => self.minority,
            (CentralAdvance, CENTRAL_FARM) => self.farm,
            (RegionAdvance, REGION_DEV) => self.region_dev_advance,
            (PrefectureOwn, PREFECTURE_DEV) => self.prefecture_own,
            (CentralAdditional, CENTRAL_DEV) => self.central_dev_additional,
            (Bonds1, BONDS) => self.bonds1,
            (Award, CENTRAL_DEV) => self.central_dev_award,
            (Award, REGION_DEV) => self.region_dev_award,
            (Bonds2, BONDS) => self.bonds2,
            _ => 0,
        }
    }
}

/// A county's own budget: (day, document, 万元).
type OwnSpec = (NaiveDate, &'static str, &'static str);

#[derive(Debug)]
struct County {
    code: &'static str,
    name: &'static str,
    /// Prefix of project codes.
    abbr: &'static str,
    /// The bank most payees use.
    bank: &'static str,
    shares: Shares,
    own: Option<OwnSpec>,
    projects: fn() -> Vec<ProjectSpec>,
}

impl County {
    /// The county's allocation for a batch and category: (document, yuan).
    fn allocation(&self, batch: Batch, category: &str) -> (&'static str, Decimal) {
        match (batch, self.own) {
            (CountyOwn, Some((_, doc, w))) => (doc, wan(w)),
            (CountyOwn, None) => ("", Decimal::ZERO),
            (b, _) => (
                batch_info(b).map_or("", |i| i.doc),
                wan_int(self.shares.get(b, category)),
            ),
        }
    }
}

const fn shares(v: [i64; 10]) -> Shares {
    Shares {
        central_dev_advance: v[0],
        minority: v[1],
        farm: v[2],
        region_dev_advance: v[3],
        prefecture_own: v[4],
        central_dev_additional: v[5],
        bonds1: v[6],
        central_dev_award: v[7],
        region_dev_award: v[8],
        bonds2: v[9],
    }
}

//                     X-01 adv, X-02, X-03, X-04 adv, X-05, X-01 add, bonds1, X-01 award, X-04 award, bonds2
const COUNTIES: [County; 9] = [
    County {
        code: "652801",
        name: "库尔勒市",
        abbr: "KEL",
        bank: "中国农业银行股份有限公司库尔勒分行",
        shares: shares([431, 212, 37, 330, 197, 412, 0, 55, 104, 0]),
        own: None,
        projects: korla,
    },
    County {
        code: "652822",
        name: "轮台县",
        abbr: "LT",
        bank: "中国农业银行股份有限公司轮台县支行",
        shares: shares([1547, 308, 0, 1185, 873, 1478, 3500, 199, 372, 2700]),
        own: Some((d(3, 10), "轮财预〔2020〕12号", "1800")),
        projects: luntai,
    },
    County {
        code: "652823",
        name: "尉犁县",
        abbr: "YL",
        bank: "中国农业银行股份有限公司尉犁县支行",
        shares: shares([1051, 284, 0, 806, 373, 1004, 2300, 135, 253, 1700]),
        own: None,
        projects: yuli,
    },
    County {
        code: "652824",
        name: "若羌县",
        abbr: "RQ",
        bank: "中国农业银行股份有限公司若羌县支行",
        shares: shares([556, 559, 0, 426, 152, 531, 0, 72, 134, 0]),
        own: Some((d(3, 9), "若财预〔2020〕7号", "600")),
        projects: ruoqiang,
    },
    County {
        code: "652825",
        name: "且末县",
        abbr: "QM",
        bank: "中国农业银行股份有限公司且末县支行",
        shares: shares([2125, 229, 0, 1629, 540, 2032, 7800, 274, 511, 5900]),
        own: Some((d(3, 12), "且财预〔2020〕9号", "2600")),
        projects: qiemo,
    },
    County {
        code: "652826",
        name: "焉耆回族自治县",
        abbr: "YQ",
        bank: "中国农业银行股份有限公司焉耆回族自治县支行",
        shares: shares([951, 582, 0, 730, 226, 909, 8900, 122, 228, 6600]),
        own: None,
        projects: yanqi,
    },
    County {
        code: "652827",
        name: "和静县",
        abbr: "HJ",
        bank: "中国农业银行股份有限公司和静县支行",
        shares: shares([1987, 447, 0, 1523, 971, 1899, 7600, 256, 476, 5700]),
        own: None,
        projects: hejing,
    },
    County {
        code: "652828",
        name: "和硕县",
        abbr: "HS",
        bank: "中国农业银行股份有限公司和硕县支行",
        shares: shares([585, 252, 0, 448, 214, 559, 0, 75, 140, 0]),
        own: None,
        projects: heshuo,
    },
    County {
        code: "652829",
        name: "博湖县",
        abbr: "BH",
        bank: "中国农业银行股份有限公司博湖县支行",
        shares: shares([757, 251, 0, 580, 354, 723, 9900, 98, 182, 7400]),
        own: None,
        projects: bohu,
    },
];

fn region_steps(out: &mut Vec<Step>) {
    for (on, doc, category, w, title) in CENTRE {
        out.push(Step {
            node: REGION,
            on,
            action: Action::FundsReceived {
                doc_no: doc.into(),
                category,
                amount: wan_int(w),
                source: "财政部".into(),
                title: title.into(),
            },
        });
    }
    for (on, doc, category, w, title) in REGION_OWN {
        out.push(Step {
            node: REGION,
            on,
            action: Action::OwnBudget {
                doc_no: doc.into(),
                category,
                amount: wan_int(w),
                title: title.into(),
            },
        });
    }
    for (on, doc, source_doc, category, w, title) in REGION_ISSUES {
        out.push(Step {
            node: REGION,
            on,
            action: Action::Issue {
                doc_no: doc.into(),
                source_doc: source_doc.into(),
                category,
                to: PREFECTURE,
                amount: wan_int(w),
                title: title.into(),
            },
        });
    }
}

fn prefecture_steps(out: &mut Vec<Step>) {
    let (on, doc, w, title) = PREFECTURE_OWN;
    out.push(Step {
        node: PREFECTURE,
        on,
        action: Action::OwnBudget {
            doc_no: doc.into(),
            category: PREFECTURE_DEV,
            amount: wan_int(w),
            title: title.into(),
        },
    });
    for b in &BATCHES {
        for c in &COUNTIES {
            for &category in b.categories {
                let (_, amount) = c.allocation(b.batch, category);
                if amount > Decimal::ZERO {
                    out.push(Step {
                        node: PREFECTURE,
                        on: b.on,
                        action: Action::Issue {
                            doc_no: b.doc.into(),
                            source_doc: b.source_doc.into(),
                            category,
                            to: c.code,
                            amount,
                            title: b.title.into(),
                        },
                    });
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Projects, targets and payments at the counties

/// What a project is, with the size its first target promises. Decides its
/// two performance targets, its function class and how payments read.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// 农村公路, kilometres.
    Road(i64),
    /// 防渗渠 / 农渠, kilometres.
    Channel(i64),
    /// 高效节水灌溉, 亩.
    Irrigation(i64),
    /// 农村供水 / 饮水安全, households.
    Water(i64),
    /// 农村人居环境整治, households.
    Village(i64),
    /// A bundle of small village infrastructure projects (打捆), count.
    Bundle(i64),
    /// 标准化棚圈 / 人畜分离, pens.
    Pens(i64),
    /// 标准化养殖小区, count.
    Breeding(i64),
    /// 温室大棚 / 设施农业, greenhouses.
    Greenhouse(i64),
    /// 扶贫创业基地 / 产业园, square metres.
    Base(i64),
    /// 特色林果提质增效, 亩.
    Orchard(i64),
    /// 庭院经济 / 庭院整治, households.
    Courtyard(i64),
    /// 品种羊改良, sheep.
    Sheep(i64),
    /// 设备采购, sets.
    Equipment(i64),
    /// 技能培训, person-times.
    Training(i64),
    /// 贫困学生保险费, students.
    Insurance(i64),
    /// 代缴养老保险费, persons.
    Pension(i64),
    /// 转移就业以奖代补, persons.
    Reward(i64),
    /// 贷款贴息, households or firms.
    Interest(i64),
    /// 项目管理费, projects covered.
    Management(i64),
}

type TargetSpec = (
    TargetLevel1,
    TargetLevel2,
    &'static str,
    TargetOp,
    Decimal,
    &'static str,
);

impl Kind {
    fn targets(self) -> [TargetSpec; 2] {
        use TargetLevel1::{Effect, Output, Satisfaction};
        use TargetLevel2::{
            Beneficiary, Cost, Economic, Quality, Quantity, Social, Sustainable, Timeliness,
        };
        use TargetOp::{AtLeast, AtMost, Equal};
        let n = |v: i64| Decimal::from(v);
        let pct = n(100);
        match self {
            Kind::Road(v) => [
                (
                    Output,
                    Quantity,
                    "新建（改建）农村公路里程",
                    AtLeast,
                    n(v),
                    "公里",
                ),
                (Output, Quality, "工程竣工验收合格率", Equal, pct, "%"),
            ],
            Kind::Channel(v) => [
                (
                    Output,
                    Quantity,
                    "新建（翻修）防渗渠长度",
                    AtLeast,
                    n(v),
                    "公里",
                ),
                (
                    Effect,
                    Sustainable,
                    "工程设计使用年限",
                    AtLeast,
                    n(15),
                    "年",
                ),
            ],
            Kind::Irrigation(v) => [
                (
                    Output,
                    Quantity,
                    "新增高效节水灌溉面积",
                    AtLeast,
                    n(v),
                    "亩",
                ),
                (Output, Cost, "亩均建设成本", AtMost, n(1500), "元/亩"),
            ],
            Kind::Water(v) => [
                (Output, Quantity, "供水受益农户", AtLeast, n(v), "户"),
                (Effect, Social, "农村自来水普及率", AtLeast, n(98), "%"),
            ],
            Kind::Village(v) => [
                (
                    Output,
                    Quantity,
                    "完成人居环境整治农户",
                    AtLeast,
                    n(v),
                    "户",
                ),
                (
                    Satisfaction,
                    Beneficiary,
                    "受益群众满意度",
                    AtLeast,
                    n(95),
                    "%",
                ),
            ],
            Kind::Bundle(v) => [
                (
                    Output,
                    Quantity,
                    "完成村级基础设施建设子项目",
                    Equal,
                    n(v),
                    "个",
                ),
                (Output, Quality, "工程竣工验收合格率", Equal, pct, "%"),
            ],
            Kind::Pens(v) => [
                (Output, Quantity, "新建标准化棚圈", AtLeast, n(v), "座"),
                (
                    Effect,
                    Economic,
                    "受益贫困户户均增收",
                    AtLeast,
                    n(2000),
                    "元",
                ),
            ],
            Kind::Breeding(v) => [
                (Output, Quantity, "建成标准化养殖小区", AtLeast, n(v), "个"),
                (
                    Effect,
                    Economic,
                    "带动贫困户户均增收",
                    AtLeast,
                    n(3000),
                    "元",
                ),
            ],
            Kind::Greenhouse(v) => [
                (Output, Quantity, "新建温室大棚", AtLeast, n(v), "座"),
                (Effect, Economic, "棚均年收入", AtLeast, n(15000), "元"),
            ],
            Kind::Base(v) => [
                (
                    Output,
                    Quantity,
                    "建成扶贫创业基地（产业园）面积",
                    AtLeast,
                    n(v),
                    "平方米",
                ),
                (Effect, Social, "带动贫困人口就业", AtLeast, n(20), "人"),
            ],
            Kind::Orchard(v) => [
                (Output, Quantity, "林果提质增效面积", AtLeast, n(v), "亩"),
                (Effect, Economic, "亩均增收", AtLeast, n(300), "元/亩"),
            ],
            Kind::Courtyard(v) => [
                (
                    Output,
                    Quantity,
                    "发展庭院经济（庭院整治）农户",
                    AtLeast,
                    n(v),
                    "户",
                ),
                (
                    Satisfaction,
                    Beneficiary,
                    "受益户满意度",
                    AtLeast,
                    n(95),
                    "%",
                ),
            ],
            Kind::Sheep(v) => [
                (Output, Quantity, "改良品种羊", AtLeast, n(v), "只"),
                (Effect, Economic, "只均增收", AtLeast, n(200), "元"),
            ],
            Kind::Equipment(v) => [
                (
                    Output,
                    Quantity,
                    "采购发放生产设备",
                    AtLeast,
                    n(v),
                    "台（套）",
                ),
                (Output, Timeliness, "设备按期到位率", Equal, pct, "%"),
            ],
            Kind::Training(v) => [
                (Output, Quantity, "培训贫困劳动力", AtLeast, n(v), "人次"),
                (Effect, Social, "培训后转移就业率", AtLeast, n(80), "%"),
            ],
            Kind::Insurance(v) => [
                (
                    Output,
                    Quantity,
                    "参保建档立卡贫困学生",
                    AtLeast,
                    n(v),
                    "人",
                ),
                (Effect, Social, "建档立卡贫困学生参保率", Equal, pct, "%"),
            ],
            Kind::Pension(v) => [
                (
                    Output,
                    Quantity,
                    "政府代缴养老保险费的贫困人员",
                    AtLeast,
                    n(v),
                    "人",
                ),
                (Effect, Social, "符合条件的贫困人员代缴率", Equal, pct, "%"),
            ],
            Kind::Reward(v) => [
                (
                    Output,
                    Quantity,
                    "获得奖补的转移就业贫困劳动力",
                    AtLeast,
                    n(v),
                    "人",
                ),
                (Effect, Sustainable, "转移就业稳定率", AtLeast, n(90), "%"),
            ],
            Kind::Interest(v) => [
                (
                    Output,
                    Quantity,
                    "享受贴息的贫困户（经营主体）",
                    AtLeast,
                    n(v),
                    "户",
                ),
                (Output, Cost, "贴息利率", AtMost, Decimal::new(435, 2), "%"),
            ],
            Kind::Management(v) => [
                (
                    Output,
                    Quantity,
                    "项目管理覆盖扶贫项目",
                    AtLeast,
                    n(v),
                    "个",
                ),
                (
                    Output,
                    Cost,
                    "项目管理费占财政专项扶贫资金比例",
                    AtMost,
                    n(1),
                    "%",
                ),
            ],
        }
    }

    /// 支出功能分类: 2130504 农村基础设施建设, 2130505 生产发展, 2130506 社会发展,
    /// 2130599 其他扶贫支出.
    fn function_class(self) -> &'static str {
        match self {
            Kind::Road(_)
            | Kind::Channel(_)
            | Kind::Irrigation(_)
            | Kind::Water(_)
            | Kind::Village(_)
            | Kind::Bundle(_) => "2130504",
            Kind::Pens(_)
            | Kind::Breeding(_)
            | Kind::Greenhouse(_)
            | Kind::Base(_)
            | Kind::Orchard(_)
            | Kind::Courtyard(_)
            | Kind::Sheep(_)
            | Kind::Equipment(_)
            | Kind::Interest(_) => "2130505",
            Kind::Training(_) | Kind::Insurance(_) | Kind::Pension(_) | Kind::Reward(_) => {
                "2130506"
            }
            Kind::Management(_) => "2130599",
        }
    }

    /// Construction or purchase, where a quality-guarantee retention or a
    /// final payment may follow completion.
    fn is_works(self) -> bool {
        !matches!(
            self,
            Kind::Training(_)
                | Kind::Insurance(_)
                | Kind::Pension(_)
                | Kind::Reward(_)
                | Kind::Interest(_)
                | Kind::Management(_)
                | Kind::Sheep(_)
        )
    }

    fn payment_purpose(self) -> &'static str {
        match self {
            Kind::Equipment(_) => "设备采购款",
            Kind::Training(_) => "培训补助资金",
            Kind::Insurance(_) => "保险费",
            Kind::Pension(_) => "代缴养老保险费",
            Kind::Reward(_) => "以奖代补奖补资金",
            Kind::Interest(_) => "财政贴息资金",
            Kind::Management(_) => "项目管理费",
            Kind::Sheep(_) => "品种改良补助资金",
            _ => "工程款",
        }
    }
}

/// Part of a use left unpaid on 2020-09-25: a quality-guarantee retention,
/// a final payment or a saving (seed 002 §四).
#[derive(Debug, Clone, Copy)]
struct Held {
    wan: &'static str,
    what: &'static str,
    /// Paid later in 2020, or (None) not in 2020.
    paid_on: Option<NaiveDate>,
}

/// Money from one allocation of the county for one project.
#[derive(Debug, Clone, Copy)]
struct Use {
    batch: Batch,
    category: &'static str,
    /// 万元 for this project in all; None: whatever the allocation has left
    /// after the explicit uses (one such use per allocation).
    total: Option<&'static str>,
    /// The day the total, less what is held, is paid.
    paid_on: NaiveDate,
    held: Option<Held>,
}

/// The rest of an allocation, paid on `paid_on`.
fn rest(batch: Batch, category: &'static str, paid_on: NaiveDate) -> Use {
    Use {
        batch,
        category,
        total: None,
        paid_on,
        held: None,
    }
}

/// `total` 万元 of an allocation, paid on `paid_on`.
fn part(batch: Batch, category: &'static str, total: &'static str, paid_on: NaiveDate) -> Use {
    Use {
        batch,
        category,
        total: Some(total),
        paid_on,
        held: None,
    }
}

impl Use {
    /// Holds `w` 万元 back beyond 2020 (retention, saving).
    fn keep(mut self, w: &'static str, what: &'static str) -> Use {
        self.held = Some(Held {
            wan: w,
            what,
            paid_on: None,
        });
        self
    }

    /// Holds `w` 万元 back past 2020-09-25, paid on `on`.
    fn later(mut self, w: &'static str, what: &'static str, on: NaiveDate) -> Use {
        self.held = Some(Held {
            wan: w,
            what,
            paid_on: Some(on),
        });
        self
    }
}

#[derive(Debug)]
struct ProjectSpec {
    name: &'static str,
    township: &'static str,
    village: &'static str,
    /// The responsible department, without the county's name.
    department: &'static str,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    payee: &'static str,
    kind: Kind,
    uses: Vec<Use>,
}

fn p(
    name: &'static str,
    (township, village): (&'static str, &'static str),
    department: &'static str,
    (starts_on, ends_on): (NaiveDate, NaiveDate),
    payee: &'static str,
    kind: Kind,
    uses: Vec<Use>,
) -> ProjectSpec {
    ProjectSpec {
        name,
        township,
        village,
        department,
        starts_on,
        ends_on,
        payee,
        kind,
        uses,
    }
}

const QGJ: &str = "质保金";
const WK: &str = "工程尾款";

fn korla() -> Vec<ProjectSpec> {
    use Kind::*;
    vec![
        p(
            "和什力克乡农村道路硬化工程",
            ("和什力克乡", ""),
            "交通运输局",
            (d(3, 16), d(9, 30)),
            "巴州路桥建设工程有限责任公司",
            Road(14),
            vec![rest(CentralAdvance, CENTRAL_DEV, d(7, 20))],
        ),
        p(
            "托布力其乡特色林果提质增效项目",
            ("托布力其乡", ""),
            "林业和草原局",
            (d(3, 20), d(8, 31)),
            "库尔勒市托布力其乡林果农民专业合作社",
            Orchard(3200),
            vec![rest(CentralAdvance, CENTRAL_MINORITY, d(6, 15))],
        ),
        p(
            "沙依东园艺场（国有贫困农场）高效节水灌溉改造项目",
            ("沙依东园艺场", ""),
            "农业农村局",
            (d(3, 25), d(7, 31)),
            "新疆天润节水灌溉工程有限公司",
            Irrigation(600),
            vec![rest(CentralAdvance, CENTRAL_FARM, d(5, 20))],
        ),
        p(
            "阿瓦提乡庭院经济发展项目",
            ("阿瓦提乡", ""),
            "农业农村局",
            (d(3, 25), d(8, 31)),
            "库尔勒市阿瓦提乡人民政府（代发）",
            Courtyard(420),
            vec![rest(RegionAdvance, REGION_DEV, d(6, 10))],
        ),
        p(
            "库尔勒市贫困劳动力转移就业技能培训项目",
            ("", ""),
            "人力资源和社会保障局",
            (d(4, 1), d(10, 31)),
            "库尔勒市职业技能培训中心",
            Training(900),
            vec![rest(PrefectureOwn, PREFECTURE_DEV, d(7, 8))],
        ),
        p(
            "英下乡牲畜标准化棚圈建设项目",
            ("英下乡", ""),
            "畜牧兽医局",
            (d(5, 6), d(9, 30)),
            "库尔勒市宏达建筑安装工程有限公司",
            Pens(160),
            vec![rest(CentralAdditional, CENTRAL_DEV, d(8, 14))],
        ),
        p(
            "恰尔巴格乡农村人居环境整治项目",
            ("恰尔巴格乡", ""),
            "住房和城乡建设局",
            (d(5, 28), d(9, 30)),
            "巴州城乡建设工程有限公司",
            Village(350),
            vec![
                rest(Award, CENTRAL_DEV, d(8, 27)),
                rest(Award, REGION_DEV, d(8, 27)),
            ],
        ),
    ]
}

/// 轮台: carry-over 691.53 = central 7.36 + bonds 126.44 + county 557.73, all
/// paid by mid-October (seed 002 §四 1).
fn luntai() -> Vec<ProjectSpec> {
    use Kind::*;
    vec![
        p(
            "阿克萨来乡月堂村扶贫创业基地建设项目",
            ("阿克萨来乡", "月堂村"),
            "阿克萨来乡人民政府",
            (d(3, 20), d(8, 31)),
            "轮台县兴农建筑安装工程有限公司",
            Base(1200),
            vec![part(CentralAdvance, CENTRAL_DEV, "52.6", d(7, 15)).later("1.58", QGJ, d(9, 30))],
        ),
        p(
            "阿克萨来乡月堂村温室大棚建设项目",
            ("阿克萨来乡", "月堂村"),
            "阿克萨来乡人民政府",
            (d(3, 20), d(8, 31)),
            "新疆绿源设施农业工程有限公司",
            Greenhouse(40),
            vec![part(CentralAdvance, CENTRAL_DEV, "88", d(7, 22)).later("2.64", QGJ, d(9, 30))],
        ),
        p(
            "阿克萨来乡阿克萨来村扶贫创业基地建设项目",
            ("阿克萨来乡", "阿克萨来村"),
            "阿克萨来乡人民政府",
            (d(3, 20), d(8, 31)),
            "轮台县兴农建筑安装工程有限公司",
            Base(2000),
            vec![part(CentralAdvance, CENTRAL_DEV, "104.7", d(7, 28)).later("3.14", QGJ, d(9, 30))],
        ),
        p(
            "群巴克镇农村道路提升改造工程",
            ("群巴克镇", ""),
            "交通运输局",
            (d(3, 16), d(8, 31)),
            "巴州路桥建设工程有限责任公司",
            Road(22),
            vec![rest(CentralAdvance, CENTRAL_DEV, d(6, 28))],
        ),
        p(
            "野云沟乡特色林果提质增效项目",
            ("野云沟乡", ""),
            "林业和草原局",
            (d(3, 18), d(7, 31)),
            "轮台县野云沟乡林果农民专业合作社",
            Orchard(2600),
            vec![rest(CentralAdvance, CENTRAL_MINORITY, d(6, 5))],
        ),
        p(
            "轮南镇设施农业产业园建设项目",
            ("轮南镇", ""),
            "农业农村局",
            (d(3, 24), d(9, 15)),
            "新疆绿源设施农业工程有限公司",
            Greenhouse(120),
            vec![rest(RegionAdvance, REGION_DEV, d(7, 30))],
        ),
        p(
            "哈尔巴克乡牲畜标准化棚圈建设项目",
            ("哈尔巴克乡", ""),
            "畜牧兽医局",
            (d(3, 26), d(8, 31)),
            "轮台县兴农建筑安装工程有限公司",
            Pens(300),
            vec![rest(PrefectureOwn, PREFECTURE_DEV, d(8, 6))],
        ),
        p(
            "阳霞镇高效节水灌溉项目",
            ("阳霞镇", ""),
            "水利局",
            (d(5, 4), d(9, 15)),
            "新疆天润节水灌溉工程有限公司",
            Irrigation(10000),
            vec![rest(CentralAdditional, CENTRAL_DEV, d(8, 18))],
        ),
        p(
            "轮台县2020年农村公路建设项目",
            ("", ""),
            "交通运输局",
            (d(5, 6), d(9, 20)),
            "巴州路桥建设工程有限责任公司",
            Road(45),
            vec![
                rest(Bonds1, BONDS, d(8, 20)).later("24.58", WK, d(9, 30)),
                part(CountyOwn, COUNTY_DEV, "420", d(8, 20)).later("22.6", WK, d(9, 29)),
            ],
        ),
        p(
            "轮台县农村渠道供水项目",
            ("", ""),
            "水利局",
            (d(6, 10), d(9, 20)),
            "新疆水利水电工程建设有限公司",
            Water(3200),
            vec![
                rest(Bonds2, BONDS, d(9, 10)).later("101.86", WK, d(9, 30)),
                part(CountyOwn, COUNTY_DEV, "260", d(9, 10)).later("0.3", WK, d(10, 15)),
            ],
        ),
        p(
            "轮台县农村饮水安全巩固提升项目",
            ("", ""),
            "水利局",
            (d(3, 30), d(8, 31)),
            "新疆水利水电工程建设有限公司",
            Water(5600),
            // Most of it is a payment refused for a wrong payee account.
            vec![part(CountyOwn, COUNTY_DEV, "680", d(8, 25)).later(
                "475.41",
                "工程尾款（收款账号错误退回后重新支付）",
                d(10, 15),
            )],
        ),
        p(
            "轮台县2020年扶贫项目管理费",
            ("", ""),
            "扶贫开发办公室",
            (d(3, 12), d(12, 31)),
            "新疆天昊工程项目管理有限公司",
            Management(60),
            vec![part(CountyOwn, COUNTY_DEV, "55.6", d(10, 15)).later(
                "55.6",
                "项目管理费",
                d(10, 15),
            )],
        ),
        p(
            "建档立卡贫困人员政府代缴养老保险费项目",
            ("", ""),
            "人力资源和社会保障局",
            (d(3, 12), d(12, 31)),
            "轮台县社会保险事业管理局",
            Pension(2400),
            vec![part(CountyOwn, COUNTY_DEV, "48.15", d(6, 30)).later(
                "0.15",
                "代缴养老保险费",
                d(10, 15),
            )],
        ),
        p(
            "阿克萨来乡2019年转移就业“以奖代补”项目",
            ("阿克萨来乡", ""),
            "人力资源和社会保障局",
            (d(3, 12), d(10, 31)),
            "轮台县阿克萨来乡人民政府（代发）",
            Reward(230),
            vec![part(CountyOwn, COUNTY_DEV, "36.8", d(5, 25)).later("0.8", "奖补资金", d(10, 15))],
        ),
        p(
            "第三季度扶贫小额信贷贴息项目",
            ("", ""),
            "扶贫开发办公室",
            (d(7, 1), d(9, 30)),
            "中国农业银行股份有限公司轮台县支行",
            Interest(650),
            vec![part(CountyOwn, COUNTY_DEV, "20.15", d(9, 22)).later(
                "0.15",
                "贴息资金",
                d(10, 15),
            )],
        ),
        p(
            "建档立卡贫困学生保险费项目",
            ("", ""),
            "教育局",
            (d(3, 12), d(12, 31)),
            "中国人民财产保险股份有限公司轮台支公司",
            Insurance(3400),
            vec![part(CountyOwn, COUNTY_DEV, "12.72", d(4, 20)).later("2.72", "保险费", d(10, 15))],
        ),
        p(
            "草湖乡农田防渗渠建设项目（地方政府债券县级配套）",
            ("草湖乡", ""),
            "水利局",
            (d(3, 30), d(8, 31)),
            "新疆水利水电工程建设有限公司",
            Channel(18),
            vec![rest(CountyOwn, COUNTY_DEV, d(8, 12))],
        ),
        p(
            "策达雅乡扶贫产业园配套基础设施项目",
            ("策达雅乡", ""),
            "农业农村局",
            (d(5, 28), d(9, 15)),
            "轮台县兴农建筑安装工程有限公司",
            Base(5000),
            vec![
                rest(Award, CENTRAL_DEV, d(8, 26)),
                rest(Award, REGION_DEV, d(8, 26)),
            ],
        ),
    ]
}

/// 尉犁: carry-over 40.376 (printed 40.38), all quality-guarantee retention
/// held into 2021 (seed 002 §四 2). Seed 002 prefixes only 古勒巴格乡阿克其开村
/// with 少数民族发展资金; the plan reads the other advance items as 扶贫发展.
fn yuli() -> Vec<ProjectSpec> {
    use Kind::*;
    vec![
        p(
            "塔里木乡人畜分离项目",
            ("塔里木乡", ""),
            "畜牧兽医局",
            (d(3, 18), d(8, 31)),
            "尉犁县恒盛建筑工程有限公司",
            Pens(180),
            vec![part(CentralAdvance, CENTRAL_DEV, "308", d(7, 6)).keep("9.24", QGJ)],
        ),
        p(
            "古勒巴格乡阿克其开村人畜分离项目",
            ("古勒巴格乡", "阿克其开村"),
            "畜牧兽医局",
            (d(3, 18), d(8, 31)),
            "尉犁县恒盛建筑工程有限公司",
            Pens(170),
            vec![rest(CentralAdvance, CENTRAL_MINORITY, d(7, 9)).keep("8.52", QGJ)],
        ),
        p(
            "墩阔坦乡墩阔坦村人畜分离项目",
            ("墩阔坦乡", "墩阔坦村"),
            "畜牧兽医局",
            (d(3, 20), d(8, 31)),
            "尉犁县鑫源建筑安装有限公司",
            Pens(85),
            vec![part(CentralAdvance, CENTRAL_DEV, "147.7", d(7, 13)).keep("4.43", QGJ)],
        ),
        p(
            "墩阔坦乡库木巴格村人畜分离项目",
            ("墩阔坦乡", "库木巴格村"),
            "畜牧兽医局",
            (d(3, 20), d(8, 31)),
            "尉犁县鑫源建筑安装有限公司",
            Pens(90),
            vec![part(CentralAdvance, CENTRAL_DEV, "151.7", d(7, 13)).keep("4.551", QGJ)],
        ),
        p(
            "兴平乡农村道路硬化工程",
            ("兴平乡", ""),
            "交通运输局",
            (d(3, 16), d(8, 31)),
            "巴州路桥建设工程有限责任公司",
            Road(16),
            vec![rest(CentralAdvance, CENTRAL_DEV, d(6, 24))],
        ),
        p(
            "喀尔曲尕乡设施农业建设项目",
            ("喀尔曲尕乡", ""),
            "农业农村局",
            (d(3, 24), d(8, 31)),
            "新疆绿源设施农业工程有限公司",
            Greenhouse(60),
            vec![rest(RegionAdvance, REGION_DEV, d(7, 16))],
        ),
        p(
            "尉犁县贫困劳动力技能培训及转移就业项目",
            ("", ""),
            "人力资源和社会保障局",
            (d(4, 1), d(10, 31)),
            "尉犁县职业技能培训学校",
            Training(1200),
            vec![rest(PrefectureOwn, PREFECTURE_DEV, d(6, 30))],
        ),
        p(
            "墩阔坦乡庭院整治项目",
            ("墩阔坦乡", ""),
            "农业农村局",
            (d(5, 6), d(8, 15)),
            "尉犁县鑫源建筑安装有限公司",
            Courtyard(310),
            vec![part(CentralAdditional, CENTRAL_DEV, "31", d(8, 5)).keep("0.93", QGJ)],
        ),
        p(
            "塔里木乡庭院整治项目",
            ("塔里木乡", ""),
            "农业农村局",
            (d(5, 6), d(8, 15)),
            "尉犁县恒盛建筑工程有限公司",
            Courtyard(95),
            vec![part(CentralAdditional, CENTRAL_DEV, "9.5", d(8, 5)).keep("0.285", QGJ)],
        ),
        p(
            "阿克苏普乡高效节水灌溉项目",
            ("阿克苏普乡", ""),
            "水利局",
            (d(5, 6), d(9, 15)),
            "新疆天润节水灌溉工程有限公司",
            Irrigation(6500),
            vec![rest(CentralAdditional, CENTRAL_DEV, d(8, 20))],
        ),
        p(
            "塔里木乡人畜分离（二期）项目",
            ("塔里木乡", ""),
            "畜牧兽医局",
            (d(5, 28), d(8, 31)),
            "尉犁县恒盛建筑工程有限公司",
            Pens(80),
            vec![rest(Award, CENTRAL_DEV, d(8, 24)).keep("4.32", QGJ)],
        ),
        p(
            "古勒巴格乡阿克其开村人畜分离项目（二区）",
            ("古勒巴格乡", "阿克其开村"),
            "畜牧兽医局",
            (d(5, 28), d(8, 31)),
            "尉犁县恒盛建筑工程有限公司",
            Pens(150),
            vec![rest(Award, REGION_DEV, d(8, 24)).keep("8.1", QGJ)],
        ),
        p(
            "尉犁县农村人居环境整治项目（地方政府债券第一批）",
            ("", ""),
            "住房和城乡建设局",
            (d(5, 8), d(9, 15)),
            "巴州城乡建设工程有限公司",
            Village(1800),
            vec![rest(Bonds1, BONDS, d(8, 10))],
        ),
        p(
            "尉犁县农村供水管网改造项目（地方政府债券第二批）",
            ("", ""),
            "水利局",
            (d(6, 10), d(9, 20)),
            "新疆水利水电工程建设有限公司",
            Water(2600),
            vec![rest(Bonds2, BONDS, d(9, 8))],
        ),
    ]
}

/// 若羌: carry-over 142.922302 = central/region 74.276101 (26.038301 retention,
/// 48.2378 final payments) + county 68.646201 (seed 002 §四 4). The 38 万元 of
/// 中央奖励资金、自治区新增资金 for 塔什萨依村 splits 14 central / 24 region (the
/// plan's choice).
fn ruoqiang() -> Vec<ProjectSpec> {
    use Kind::*;
    vec![
        p(
            "铁干里克镇英苏牧业村养殖小区升级改造项目",
            ("铁干里克镇", "英苏牧业村"),
            "畜牧兽医局",
            (d(5, 6), d(8, 31)),
            "若羌县楼兰建筑安装工程有限公司",
            Breeding(1),
            vec![part(CentralAdditional, CENTRAL_DEV, "180", d(8, 21)).keep("5.39946", QGJ)],
        ),
        p(
            "瓦石峡镇塔什萨依村防渗渠建设项目（一标段）",
            ("瓦石峡镇", "塔什萨依村"),
            "水利局",
            (d(3, 23), d(7, 31)),
            "若羌县昆仑水利工程有限公司",
            Channel(6),
            vec![part(CentralAdvance, CENTRAL_DEV, "116", d(7, 2)).keep("3.48", QGJ)],
        ),
        p(
            "瓦石峡镇塔什萨依村防渗渠建设项目（二标段）",
            ("瓦石峡镇", "塔什萨依村"),
            "水利局",
            (d(3, 23), d(7, 31)),
            "若羌县昆仑水利工程有限公司",
            Channel(5),
            vec![part(CentralAdvance, CENTRAL_DEV, "108.2", d(7, 2)).keep("3.246", QGJ)],
        ),
        p(
            "瓦石峡镇牧业村农渠翻修项目",
            ("瓦石峡镇", "牧业村"),
            "水利局",
            (d(3, 23), d(6, 30)),
            "若羌县昆仑水利工程有限公司",
            Channel(2),
            vec![part(CentralAdvance, CENTRAL_DEV, "20", d(6, 18)).keep("0.6", QGJ)],
        ),
        p(
            "瓦石峡镇吾塔木村防渗渠建设项目",
            ("瓦石峡镇", "吾塔木村"),
            "水利局",
            (d(3, 23), d(7, 31)),
            "若羌县昆仑水利工程有限公司",
            Channel(10),
            vec![part(CentralAdvance, CENTRAL_MINORITY, "205.5", d(7, 7)).keep("6.165", QGJ)],
        ),
        p(
            "瓦石峡镇新建村防渗渠建设项目",
            ("瓦石峡镇", "新建村"),
            "水利局",
            (d(3, 23), d(7, 31)),
            "若羌县昆仑水利工程有限公司",
            Channel(7),
            vec![part(CentralAdvance, CENTRAL_MINORITY, "150.2", d(7, 7)).keep("4.506", QGJ)],
        ),
        p(
            "若羌镇庭院经济发展项目",
            ("若羌镇", ""),
            "农业农村局",
            (d(3, 20), d(7, 31)),
            "若羌县若羌镇人民政府（代发）",
            Courtyard(500),
            vec![rest(CentralAdvance, CENTRAL_DEV, d(6, 12))],
        ),
        p(
            "铁干里克镇特色林果提质增效项目",
            ("铁干里克镇", ""),
            "林业和草原局",
            (d(3, 20), d(7, 31)),
            "若羌县红枣农民专业合作社",
            Orchard(2000),
            vec![rest(CentralAdvance, CENTRAL_MINORITY, d(6, 20))],
        ),
        p(
            "若羌县农村饮水安全巩固提升工程",
            ("", ""),
            "水利局",
            (d(3, 27), d(7, 31)),
            "新疆水利水电工程建设有限公司",
            Water(2100),
            vec![part(RegionAdvance, REGION_DEV, "88.06", d(7, 20)).keep("2.641841", QGJ)],
        ),
        p(
            "瓦石峡镇塔什萨依村自来水提升改造工程",
            ("瓦石峡镇", "塔什萨依村"),
            "水利局",
            (d(3, 27), d(8, 15)),
            "若羌县昆仑水利工程有限公司",
            Water(260),
            vec![part(RegionAdvance, REGION_DEV, "102.378", d(8, 11)).later(
                "10.2378",
                WK,
                d(10, 23),
            )],
        ),
        p(
            "依吞布拉克镇牲畜标准化棚圈建设项目",
            ("依吞布拉克镇", ""),
            "畜牧兽医局",
            (d(3, 27), d(7, 31)),
            "若羌县楼兰建筑安装工程有限公司",
            Pens(120),
            vec![rest(RegionAdvance, REGION_DEV, d(6, 29))],
        ),
        p(
            "若羌县贫困劳动力技能培训项目",
            ("", ""),
            "人力资源和社会保障局",
            (d(4, 1), d(10, 31)),
            "若羌县职业技能培训学校",
            Training(500),
            vec![rest(PrefectureOwn, PREFECTURE_DEV, d(6, 23))],
        ),
        p(
            "吾塔木乡高效节水灌溉项目",
            ("吾塔木乡", ""),
            "水利局",
            (d(5, 6), d(9, 15)),
            "新疆天润节水灌溉工程有限公司",
            Irrigation(3000),
            vec![rest(CentralAdditional, CENTRAL_DEV, d(8, 28))],
        ),
        p(
            "瓦石峡镇塔什萨依村农田基础设施建设项目",
            ("瓦石峡镇", "塔什萨依村"),
            "水利局",
            (d(5, 28), d(9, 15)),
            "若羌县昆仑水利工程有限公司",
            Irrigation(1500),
            vec![
                rest(Award, CENTRAL_DEV, d(8, 31)).later("14", WK, d(10, 23)),
                rest(Award, REGION_DEV, d(8, 31)).later("24", WK, d(10, 23)),
            ],
        ),
        p(
            "铁干里克镇品种羊改良项目",
            ("铁干里克镇", ""),
            "畜牧兽医局",
            (d(3, 16), d(7, 31)),
            "若羌县畜牧兽医站",
            Sheep(3000),
            vec![part(CountyOwn, COUNTY_DEV, "30.95", d(6, 16)).keep("0.95", "项目结余")],
        ),
        p(
            "若羌县贫困户转移就业“以奖代补”项目",
            ("", ""),
            "人力资源和社会保障局",
            (d(3, 16), d(9, 30)),
            "若羌县就业服务中心（代发）",
            Reward(160),
            vec![part(CountyOwn, COUNTY_DEV, "21.94", d(7, 24)).keep("1.94", "项目结余")],
        ),
        p(
            "若羌县贫困户小额信贷财政贴息项目",
            ("", ""),
            "扶贫开发办公室",
            (d(3, 16), d(12, 31)),
            "中国农业银行股份有限公司若羌县支行",
            Interest(420),
            vec![part(CountyOwn, COUNTY_DEV, "36", d(7, 10)).later(
                "9.359534",
                "第三、四季度贴息",
                d(12, 15),
            )],
        ),
        p(
            "若羌县扶贫龙头企业项目贷款财政贴息项目",
            ("", ""),
            "扶贫开发办公室",
            (d(3, 16), d(12, 31)),
            "中国农业银行股份有限公司若羌县支行",
            Interest(3),
            vec![part(CountyOwn, COUNTY_DEV, "80", d(7, 10)).later(
                "39.586667",
                "第三、四季度贴息",
                d(12, 15),
            )],
        ),
        p(
            "若羌县2020年扶贫项目管理费",
            ("", ""),
            "扶贫开发办公室",
            (d(3, 16), d(12, 31)),
            "新疆天昊工程项目管理有限公司",
            Management(40),
            vec![part(CountyOwn, COUNTY_DEV, "16.81", d(10, 23)).later(
                "16.81",
                "项目管理费",
                d(10, 23),
            )],
        ),
        p(
            "若羌县农村人居环境整治项目（县级配套）",
            ("", ""),
            "住房和城乡建设局",
            (d(3, 20), d(8, 31)),
            "巴州城乡建设工程有限公司",
            Village(600),
            vec![rest(CountyOwn, COUNTY_DEV, d(8, 14))],
        ),
    ]
}

/// 且末: carry-over 566.334 (printed 566.33), all retention held into 2021
/// (seed 002 §四 3). Seed 002 counts 28 + 9 + 16 + 8 + 10 + … small projects;
/// the plan registers each group as one bundled project (打捆实施).
fn qiemo() -> Vec<ProjectSpec> {
    use Kind::*;
    vec![
        p(
            "且末县2020年村级基础设施建设打捆项目（28个）",
            ("", ""),
            "农业农村局",
            (d(3, 20), d(8, 31)),
            "且末县昆仑建设工程有限公司",
            Bundle(28),
            // Printed 56.55; see the module docs.
            vec![part(CentralAdvance, CENTRAL_DEV, "1885", d(7, 27)).keep("56.547", QGJ)],
        ),
        p(
            "且末县扶贫设备采购打捆项目（9个）",
            ("", ""),
            "农业农村局",
            (d(3, 20), d(6, 30)),
            "且末县惠农农机销售有限公司",
            Equipment(120),
            vec![rest(CentralAdvance, CENTRAL_DEV, d(6, 22)).keep("5.2", QGJ)],
        ),
        p(
            "琼库勒乡基本农田防渗渠建设项目",
            ("琼库勒乡", ""),
            "水利局",
            (d(3, 23), d(7, 31)),
            "且末县车尔臣水利工程有限公司",
            Channel(8),
            vec![rest(CentralAdvance, CENTRAL_MINORITY, d(7, 14)).keep("1.49", QGJ)],
        ),
        p(
            "且末县标准化养殖小区基础设施建设打捆项目（16个）",
            ("", ""),
            "畜牧兽医局",
            (d(5, 6), d(8, 31)),
            "且末县昆仑建设工程有限公司",
            Breeding(16),
            vec![part(CentralAdditional, CENTRAL_DEV, "1600", d(8, 19)).keep("47.75", QGJ)],
        ),
        p(
            "且末县标准化养殖小区配套设备采购项目（8个）",
            ("", ""),
            "畜牧兽医局",
            (d(5, 6), d(8, 31)),
            "且末县惠农农机销售有限公司",
            Equipment(160),
            vec![rest(CentralAdditional, CENTRAL_DEV, d(8, 19)).keep("7.61", QGJ)],
        ),
        p(
            "且末县标准化养殖小区基础设施建设项目（10个）",
            ("", ""),
            "畜牧兽医局",
            (d(3, 25), d(7, 31)),
            "且末县昆仑建设工程有限公司",
            Breeding(10),
            vec![part(RegionAdvance, REGION_DEV, "1315", d(7, 29)).keep("39.45", QGJ)],
        ),
        p(
            "阿羌乡基本农田防渗渠建设项目",
            ("阿羌乡", ""),
            "水利局",
            (d(3, 25), d(7, 31)),
            "且末县车尔臣水利工程有限公司",
            Channel(9),
            vec![rest(RegionAdvance, REGION_DEV, d(7, 29)).keep("3.61", QGJ)],
        ),
        p(
            "且末县标准化养殖小区基础建设项目（自治州资金，3个）",
            ("", ""),
            "畜牧兽医局",
            (d(3, 25), d(7, 31)),
            "且末县昆仑建设工程有限公司",
            Breeding(3),
            vec![part(PrefectureOwn, PREFECTURE_DEV, "71", d(7, 31)).keep("2.13", QGJ)],
        ),
        p(
            "且末县标准化养殖小区配套设备采购项目（自治州资金，3个）",
            ("", ""),
            "畜牧兽医局",
            (d(3, 25), d(7, 31)),
            "且末县惠农农机销售有限公司",
            Equipment(60),
            vec![part(PrefectureOwn, PREFECTURE_DEV, "82.3", d(7, 31)).keep("2.47", QGJ)],
        ),
        p(
            "托格拉克勒克乡基本农田防渗渠建设项目（2个）",
            ("托格拉克勒克乡", ""),
            "水利局",
            (d(3, 25), d(7, 31)),
            "且末县车尔臣水利工程有限公司",
            Channel(12),
            vec![rest(PrefectureOwn, PREFECTURE_DEV, d(7, 31)).keep("6.2", QGJ)],
        ),
        p(
            "且末县农村人居环境整治（一期）工程建设项目",
            ("", ""),
            "住房和城乡建设局",
            (d(5, 6), d(8, 31)),
            "巴州城乡建设工程有限公司",
            Village(2600),
            vec![
                rest(Bonds1, BONDS, d(8, 13)),
                part(CountyOwn, COUNTY_DEV, "1200", d(8, 13)).keep("190", QGJ),
            ],
        ),
        p(
            "且末县农村人居环境整治（二期）工程建设项目",
            ("", ""),
            "住房和城乡建设局",
            (d(6, 10), d(9, 15)),
            "巴州城乡建设工程有限公司",
            Village(2100),
            // 190 + 202.537 = 392.537, printed 392.54; see the module docs.
            vec![
                rest(Bonds2, BONDS, d(9, 15)),
                part(CountyOwn, COUNTY_DEV, "1000", d(9, 15)).keep("202.537", QGJ),
            ],
        ),
        p(
            "且末县县级配套扶贫设备采购项目",
            ("", ""),
            "农业农村局",
            (d(3, 20), d(7, 15)),
            "且末县惠农农机销售有限公司",
            Equipment(40),
            vec![part(CountyOwn, COUNTY_DEV, "44.67", d(7, 6)).keep("1.34", QGJ)],
        ),
        p(
            "且末县扶贫小额信贷贴息项目",
            ("", ""),
            "扶贫开发办公室",
            (d(3, 20), d(12, 31)),
            "中国农业银行股份有限公司且末县支行",
            Interest(900),
            vec![rest(CountyOwn, COUNTY_DEV, d(7, 10))],
        ),
        p(
            "阿热勒乡设施农业建设项目",
            ("阿热勒乡", ""),
            "农业农村局",
            (d(5, 28), d(9, 15)),
            "新疆绿源设施农业工程有限公司",
            Greenhouse(80),
            vec![
                rest(Award, CENTRAL_DEV, d(8, 31)),
                rest(Award, REGION_DEV, d(8, 31)),
            ],
        ),
    ]
}

/// A project of a county without carry-over: (name, township, payee, kind).
type Plain = (&'static str, &'static str, &'static str, Kind);

/// The five counties without carry-over: one project per allocation, each
/// paid in full before 2020-09-25. `projects` and `paid_on` follow this order:
/// central advance 扶贫发展, 少数民族发展, region advance, prefecture own,
/// central additional, bonds 1, bonds 2, award (None: the county has no such
/// allocation).
fn plain_county(projects: [Option<Plain>; 8], paid_on: [NaiveDate; 8]) -> Vec<ProjectSpec> {
    let plan: [(Vec<Use>, &'static str, (NaiveDate, NaiveDate)); 8] = [
        (
            vec![rest(CentralAdvance, CENTRAL_DEV, paid_on[0])],
            "交通运输局",
            (d(3, 16), d(8, 31)),
        ),
        (
            vec![rest(CentralAdvance, CENTRAL_MINORITY, paid_on[1])],
            "农业农村局",
            (d(3, 18), d(7, 31)),
        ),
        (
            vec![rest(RegionAdvance, REGION_DEV, paid_on[2])],
            "畜牧兽医局",
            (d(3, 24), d(8, 31)),
        ),
        (
            vec![rest(PrefectureOwn, PREFECTURE_DEV, paid_on[3])],
            "人力资源和社会保障局",
            (d(4, 1), d(10, 31)),
        ),
        (
            vec![rest(CentralAdditional, CENTRAL_DEV, paid_on[4])],
            "水利局",
            (d(5, 6), d(9, 15)),
        ),
        (
            vec![rest(Bonds1, BONDS, paid_on[5])],
            "住房和城乡建设局",
            (d(5, 8), d(9, 15)),
        ),
        (
            vec![rest(Bonds2, BONDS, paid_on[6])],
            "水利局",
            (d(6, 10), d(9, 20)),
        ),
        (
            vec![
                rest(Award, CENTRAL_DEV, paid_on[7]),
                rest(Award, REGION_DEV, paid_on[7]),
            ],
            "农业农村局",
            (d(5, 28), d(9, 15)),
        ),
    ];
    projects
        .into_iter()
        .zip(plan)
        .filter_map(|(project, (uses, department, dates))| {
            project.map(|(name, township, payee, kind)| {
                p(name, (township, ""), department, dates, payee, kind, uses)
            })
        })
        .collect()
}

fn yanqi() -> Vec<ProjectSpec> {
    use Kind::*;
    plain_county(
        [
            Some((
                "七个星镇农村道路硬化工程",
                "七个星镇",
                "巴州路桥建设工程有限责任公司",
                Road(18),
            )),
            Some((
                "永宁镇设施农业建设项目",
                "永宁镇",
                "新疆绿源设施农业工程有限公司",
                Greenhouse(90),
            )),
            Some((
                "北大渠乡牲畜标准化棚圈建设项目",
                "北大渠乡",
                "焉耆县天成建筑安装有限公司",
                Pens(260),
            )),
            Some((
                "焉耆回族自治县贫困劳动力技能培训项目",
                "",
                "焉耆县职业技能培训学校",
                Training(700),
            )),
            Some((
                "查汗采开乡高效节水灌溉项目",
                "查汗采开乡",
                "新疆天润节水灌溉工程有限公司",
                Irrigation(7000),
            )),
            Some((
                "焉耆回族自治县农村人居环境整治项目（地方政府债券第一批）",
                "",
                "巴州城乡建设工程有限公司",
                Village(5200),
            )),
            Some((
                "焉耆回族自治县农村供水保障工程（地方政府债券第二批）",
                "",
                "新疆水利水电工程建设有限公司",
                Water(9000),
            )),
            Some((
                "包尔海乡庭院经济发展项目",
                "包尔海乡",
                "焉耆县包尔海乡人民政府（代发）",
                Courtyard(600),
            )),
        ],
        [
            d(6, 29),
            d(6, 17),
            d(7, 9),
            d(6, 24),
            d(8, 17),
            d(8, 7),
            d(9, 11),
            d(8, 25),
        ],
    )
}

fn hejing() -> Vec<ProjectSpec> {
    use Kind::*;
    plain_county(
        [
            Some((
                "乃门莫敦镇农村道路提升改造工程",
                "乃门莫敦镇",
                "巴州路桥建设工程有限责任公司",
                Road(30),
            )),
            Some((
                "协比乃尔布呼镇特色林果提质增效项目",
                "协比乃尔布呼镇",
                "和静县林果农民专业合作社联合社",
                Orchard(2800),
            )),
            Some((
                "巴音布鲁克镇牲畜标准化棚圈建设项目",
                "巴音布鲁克镇",
                "和静县天山建筑安装工程有限公司",
                Pens(400),
            )),
            Some((
                "和静县贫困劳动力技能培训项目",
                "",
                "和静县职业技能培训学校",
                Training(1500),
            )),
            Some((
                "额勒再特乌鲁乡高效节水灌溉项目",
                "额勒再特乌鲁乡",
                "新疆天润节水灌溉工程有限公司",
                Irrigation(13000),
            )),
            Some((
                "和静县农村人居环境整治项目（地方政府债券第一批）",
                "",
                "巴州城乡建设工程有限公司",
                Village(4800),
            )),
            Some((
                "和静县农村公路建设项目（地方政府债券第二批）",
                "",
                "巴州路桥建设工程有限责任公司",
                Road(85),
            )),
            Some((
                "哈尔莫敦镇扶贫产业园建设项目",
                "哈尔莫敦镇",
                "和静县天山建筑安装工程有限公司",
                Base(8000),
            )),
        ],
        [
            d(6, 30),
            d(6, 19),
            d(7, 14),
            d(7, 3),
            d(8, 19),
            d(8, 12),
            d(9, 14),
            d(8, 28),
        ],
    )
}

fn heshuo() -> Vec<ProjectSpec> {
    use Kind::*;
    plain_county(
        [
            Some((
                "曲惠镇农村道路硬化工程",
                "曲惠镇",
                "巴州路桥建设工程有限责任公司",
                Road(11),
            )),
            Some((
                "乌什塔拉回族民族乡特色林果提质增效项目",
                "乌什塔拉回族民族乡",
                "和硕县林果农民专业合作社",
                Orchard(1600),
            )),
            Some((
                "塔哈其镇牲畜标准化棚圈建设项目",
                "塔哈其镇",
                "和硕县金沙建筑安装有限公司",
                Pens(200),
            )),
            Some((
                "和硕县贫困劳动力技能培训项目",
                "",
                "和硕县职业技能培训学校",
                Training(450),
            )),
            Some((
                "苏哈特乡高效节水灌溉项目",
                "苏哈特乡",
                "新疆天润节水灌溉工程有限公司",
                Irrigation(4000),
            )),
            None,
            None,
            Some((
                "特吾里克镇庭院经济发展项目",
                "特吾里克镇",
                "和硕县特吾里克镇人民政府（代发）",
                Courtyard(380),
            )),
        ],
        [
            d(6, 26),
            d(6, 16),
            d(7, 8),
            d(6, 23),
            d(8, 13),
            d(8, 1),
            d(9, 1),
            d(8, 26),
        ],
    )
}

fn bohu() -> Vec<ProjectSpec> {
    use Kind::*;
    plain_county(
        [
            Some((
                "本布图镇农村道路硬化工程",
                "本布图镇",
                "巴州路桥建设工程有限责任公司",
                Road(15),
            )),
            Some((
                "塔温觉肯乡设施农业建设项目",
                "塔温觉肯乡",
                "新疆绿源设施农业工程有限公司",
                Greenhouse(75),
            )),
            Some((
                "乌兰再格森乡牲畜标准化棚圈建设项目",
                "乌兰再格森乡",
                "博湖县西海建筑安装有限公司",
                Pens(240),
            )),
            Some((
                "博湖县贫困劳动力技能培训项目",
                "",
                "博湖县职业技能培训学校",
                Training(600),
            )),
            Some((
                "才坎诺尔乡高效节水灌溉项目",
                "才坎诺尔乡",
                "新疆天润节水灌溉工程有限公司",
                Irrigation(5000),
            )),
            Some((
                "博湖县农村人居环境整治项目（地方政府债券第一批）",
                "",
                "巴州城乡建设工程有限公司",
                Village(5600),
            )),
            Some((
                "博湖县农村供水保障工程（地方政府债券第二批）",
                "",
                "新疆水利水电工程建设有限公司",
                Water(8200),
            )),
            Some((
                "查干诺尔乡庭院经济发展项目",
                "查干诺尔乡",
                "博湖县查干诺尔乡人民政府（代发）",
                Courtyard(450),
            )),
        ],
        [
            d(6, 25),
            d(6, 18),
            d(7, 10),
            d(6, 29),
            d(8, 18),
            d(8, 11),
            d(9, 16),
            d(8, 27),
        ],
    )
}

/// One county's own budget, projects, targets, payments and completions.
fn county_steps(c: &County, out: &mut Vec<Step>) {
    if let Some((on, doc, w)) = c.own {
        out.push(Step {
            node: c.code,
            on,
            action: Action::OwnBudget {
                doc_no: doc.into(),
                category: COUNTY_DEV,
                amount: wan(w),
                title: format!("关于安排2020年{}县级财政专项扶贫资金的通知", c.name),
            },
        });
    }
    let projects = (c.projects)();
    // What the explicit uses take from each allocation; a "rest" use gets
    // what is left.
    let mut explicit: BTreeMap<(Batch, &str), Decimal> = BTreeMap::new();
    for u in projects.iter().flat_map(|p| &p.uses) {
        if let Some(t) = u.total {
            let e = explicit.entry((u.batch, u.category)).or_default();
            *e = e.checked_add(wan(t)).unwrap_or(Decimal::ZERO);
        }
    }
    let mut rest_taken: BTreeSet<(Batch, &str)> = BTreeSet::new();
    for (i, spec) in projects.iter().enumerate() {
        let code = format!("{}2020-{:03}", c.abbr, i.saturating_add(1));
        let department = format!("{}{}", c.name, spec.department);
        let mut lines = Vec::new();
        for u in &spec.uses {
            let key = (u.batch, u.category);
            let total = match u.total {
                Some(t) => wan(t),
                None if rest_taken.insert(key) => {
                    let (_, amount) = c.allocation(u.batch, u.category);
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
            node: c.code,
            on: spec.starts_on,
            action: Action::Project {
                code: code.clone(),
                name: spec.name.into(),
                township: spec.township.into(),
                village: spec.village.into(),
                department: department.clone(),
                starts_on: spec.starts_on,
                ends_on: spec.ends_on,
                budget,
                status: ProjectStatus::InProgress,
            },
        });
        for (level1, level2, indicator, op, value, unit) in spec.kind.targets() {
            out.push(Step {
                node: c.code,
                on: spec.starts_on,
                action: Action::Target {
                    project: code.clone(),
                    level1,
                    level2,
                    indicator: indicator.into(),
                    op,
                    value,
                    unit: unit.into(),
                },
            });
        }
        let payment = |on: NaiveDate, u: &Use, amount: Decimal, purpose: String| Step {
            node: c.code,
            on,
            action: Action::Payment {
                // Numbered once all steps are in order.
                voucher_no: String::new(),
                payer: department.clone(),
                payee_name: spec.payee.into(),
                payee_account: format!("3045{}{:04}", c.code, i.saturating_add(1)),
                payee_bank: if spec.payee.contains("银行") {
                    spec.payee.into()
                } else {
                    c.bank.into()
                },
                amount,
                function_class: spec.kind.function_class().into(),
                alloc_doc: c.allocation(u.batch, u.category).0.into(),
                alloc_category: u.category,
                project: code.clone(),
                purpose,
            },
        };
        let mut completed: Option<NaiveDate> = None;
        for (u, total) in lines {
            let held = u.held.map_or(Decimal::ZERO, |h| wan(h.wan));
            let now = total.checked_sub(held).unwrap_or(Decimal::ZERO);
            let what = spec.kind.payment_purpose();
            if now > Decimal::ZERO {
                let purpose = match u.held {
                    Some(h) => format!("{what}（{}{}万元暂未支付）", h.what, h.wan),
                    None => what.to_owned(),
                };
                out.push(payment(u.paid_on, u, now, purpose));
                completed = completed.max(Some(u.paid_on));
            }
            if let Some(Held {
                what,
                paid_on: Some(on),
                ..
            }) = u.held
            {
                out.push(payment(on, u, held, what.to_owned()));
                // Works are complete before their retention is paid; a
                // subsidy or fee is complete with its last payment.
                if !spec.kind.is_works() {
                    completed = completed.max(Some(on));
                }
            }
        }
        if let Some(on) = completed {
            out.push(Step {
                node: c.code,
                on,
                action: Action::ProjectStatus {
                    project: code,
                    status: ProjectStatus::Completed,
                },
            });
        }
    }
}

/// Voucher numbers run per county in the order of payment.
fn number_vouchers(steps: &mut [Step]) {
    let mut next: BTreeMap<&str, u32> = BTreeMap::new();
    for s in steps {
        if let Action::Payment { voucher_no, .. } = &mut s.action {
            let n = next.entry(s.node).or_insert(0);
            *n = n.saturating_add(1);
            *voucher_no = format!("ZF2020-{}-{:04}", s.node, n);
        }
    }
}

// ---------------------------------------------------------------------------
// The figures to check

/// Every figure of seed 002 (as summarised in DOMAIN.md) the demo reproduces.
pub fn expected() -> Vec<Expected> {
    let mut out = Vec::new();
    let mut add = |zh: String,
                   en: String,
                   node: &'static str,
                   funds: Funds,
                   figure: Figure,
                   exact: &str,
                   printed: &str| {
        out.push(Expected {
            label_zh: zh,
            label_en: en,
            node,
            funds,
            figure,
            yuan: wan(exact),
            seed_wan: Decimal::from_str_exact(printed).unwrap_or(Decimal::MIN),
        });
    };
    let cats = |v: &[&'static str]| Funds::Categories(v.to_vec());
    let upto = Figure::IssuedUpTo(LAST_BATCH_ON);

    // The prefecture's totals.
    add(
        "巴州2020年拨付下达各县市财政专项扶贫资金合计".into(),
        "Bayingol: all issued to the nine counties in 2020".into(),
        PREFECTURE,
        Funds::All,
        upto,
        "107941",
        "107941",
    );
    add(
        "其中：中央、自治区、地方政府债券资金".into(),
        "of which from above (central, region, bonds)".into(),
        PREFECTURE,
        cats(&FROM_ABOVE),
        upto,
        "104041",
        "104041",
    );
    add(
        "其中：自治州本级安排".into(),
        "of which the prefecture's own budget".into(),
        PREFECTURE,
        cats(&[PREFECTURE_DEV]),
        upto,
        "3900",
        "3900",
    );
    add(
        "自治州本级预算安排财政专项扶贫资金".into(),
        "the prefecture's own budget for 2020".into(),
        PREFECTURE,
        Funds::All,
        Figure::OwnBudgetUpTo(LAST_BATCH_ON),
        "3900",
        "3900",
    );
    for (funds, zh, en, w) in [
        (
            Funds::Origin(FundOrigin::Central),
            "中央财政专项资金",
            "central funds",
            "23984",
        ),
        (
            cats(&[CENTRAL_DEV]),
            "中央：扶贫发展",
            "central 扶贫发展",
            "20823",
        ),
        (
            Funds::Origin(FundOrigin::Region),
            "自治区财政专项资金（扶贫发展）",
            "region funds (扶贫发展)",
            "10057",
        ),
        (
            Funds::Origin(FundOrigin::Bond),
            "地方政府债券资金用于支持脱贫攻坚",
            "local government bond funds",
            "70000",
        ),
    ] {
        add(
            format!("巴州收到{zh}"),
            format!("Bayingol received {en}"),
            PREFECTURE,
            funds,
            Figure::ReceivedUpTo(LAST_BATCH_ON),
            w,
            w,
        );
    }
    add(
        "自治区收到中央财政专项扶贫资金（巴州部分）".into(),
        "the region received from the centre (Bayingol's part)".into(),
        REGION,
        Funds::Origin(FundOrigin::Central),
        Figure::ReceivedUpTo(LAST_BATCH_ON),
        "23984",
        "23984",
    );
    // Column totals of the per-county table.
    for (v, zh, en, w) in [
        (
            &[CENTRAL_DEV, REGION_DEV][..],
            "扶贫发展资金",
            "扶贫发展",
            "30880",
        ),
        (
            &[CENTRAL_MINORITY][..],
            "少数民族发展资金",
            "少数民族发展",
            "3124",
        ),
        (
            &[CENTRAL_FARM][..],
            "国有贫困农场扶贫资金",
            "国有贫困农场",
            "37",
        ),
        (&[BONDS][..], "债券资金用于脱贫攻坚", "bonds", "70000"),
    ] {
        add(
            format!("巴州下达各县市{zh}合计"),
            format!("Bayingol issued to the counties: {en}, total"),
            PREFECTURE,
            cats(v),
            upto,
            w,
            w,
        );
    }

    // The batches, each on its day.
    for (b, w) in BATCHES
        .iter()
        .zip(["13151", "7657", "3900", "9547", "40000", "3686", "30000"])
    {
        add(
            format!("{} {}", b.on, b.title),
            format!("batch issued to the counties on {}", b.on),
            PREFECTURE,
            Funds::All,
            Figure::IssuedOn(b.on),
            w,
            w,
        );
    }
    for (on, c, zh, w) in [
        (
            day(2019, 12, 6),
            CENTRAL_DEV,
            "中央提前下达：扶贫发展",
            "9990",
        ),
        (
            day(2019, 12, 6),
            CENTRAL_MINORITY,
            "中央提前下达：少数民族发展",
            "3124",
        ),
        (
            day(2019, 12, 6),
            CENTRAL_FARM,
            "中央提前下达：国有贫困农场",
            "37",
        ),
        (d(5, 22), CENTRAL_DEV, "奖励资金：中央", "1286"),
        (d(5, 22), REGION_DEV, "奖励资金：自治区", "2400"),
    ] {
        add(
            zh.into(),
            format!("batch of {on}, category {c}"),
            PREFECTURE,
            cats(&[c]),
            Figure::IssuedOn(on),
            w,
            w,
        );
    }

    // Per county: the 104041 by source, and the share of the 3900.
    let table: [(&str, [&str; 6]); 9] = [
        ("652801", ["1332", "212", "37", "0", "1581", "197"]),
        ("652822", ["4781", "308", "0", "6200", "11289", "873"]),
        ("652823", ["3249", "284", "0", "4000", "7533", "373"]),
        ("652824", ["1719", "559", "0", "0", "2278", "152"]),
        ("652825", ["6571", "229", "0", "13700", "20500", "540"]),
        ("652826", ["2940", "582", "0", "15500", "19022", "226"]),
        ("652827", ["6141", "447", "0", "13300", "19888", "971"]),
        ("652828", ["1807", "252", "0", "0", "2059", "214"]),
        ("652829", ["2340", "251", "0", "17300", "19891", "354"]),
    ];
    for (code, row) in table {
        let node = COUNTIES.iter().find(|c| c.code == code);
        let (node, name) = node.map_or(("", ""), |c| (c.code, c.name));
        let columns: [(Funds, &str, &str); 6] = [
            (cats(&[CENTRAL_DEV, REGION_DEV]), "扶贫发展资金", "扶贫发展"),
            (
                cats(&[CENTRAL_MINORITY]),
                "少数民族发展资金",
                "少数民族发展",
            ),
            (
                cats(&[CENTRAL_FARM]),
                "国有贫困农场扶贫资金",
                "国有贫困农场",
            ),
            (cats(&[BONDS]), "债券资金用于脱贫攻坚", "bonds"),
            (cats(&FROM_ABOVE), "上级资金合计", "total from above"),
            (
                cats(&[PREFECTURE_DEV]),
                "自治州本级资金",
                "share of the prefecture's 3900",
            ),
        ];
        for ((funds, zh, en), w) in columns.into_iter().zip(row) {
            add(
                format!("{name}{zh}"),
                format!("{code} received: {en}"),
                node,
                funds,
                Figure::ReceivedUpTo(LAST_BATCH_ON),
                w,
                w,
            );
        }
    }

    // Carry-over on 2020-09-25 (seed 002 §四).
    let on = Figure::BalanceOn(CARRY_OVER_ON);
    let allocs = |v: &[(Batch, &'static str)]| {
        Funds::Allocations(
            v.iter()
                .map(|&(b, category)| AllocRef {
                    doc_no: batch_info(b).map_or("", |i| i.doc).into(),
                    category,
                })
                .collect(),
        )
    };
    let carry: Vec<(&'static str, Funds, &str, &str, &str)> = vec![
        (
            "652822",
            Funds::All,
            "轮台县结转财政专项扶贫资金",
            "691.53",
            "691.53",
        ),
        (
            "652822",
            Funds::Origin(FundOrigin::Central),
            "轮台县：中央财政专项扶贫资金",
            "7.36",
            "7.36",
        ),
        (
            "652822",
            Funds::Origin(FundOrigin::Bond),
            "轮台县：地方政府债券资金",
            "126.44",
            "126.44",
        ),
        (
            "652822",
            Funds::Origin(FundOrigin::County),
            "轮台县：县级财政专项扶贫资金",
            "557.73",
            "557.73",
        ),
        (
            "652823",
            Funds::All,
            "尉犁县结转项目质量保证金",
            "40.376",
            "40.38",
        ),
        (
            "652823",
            allocs(&[
                (CentralAdvance, CENTRAL_DEV),
                (CentralAdvance, CENTRAL_MINORITY),
            ]),
            "尉犁县：中央提前下达扶贫资金",
            "26.741",
            "26.741",
        ),
        (
            "652823",
            allocs(&[(CentralAdditional, CENTRAL_DEV)]),
            "尉犁县：中央新增扶贫资金",
            "1.215",
            "1.215",
        ),
        (
            "652823",
            allocs(&[(Award, CENTRAL_DEV), (Award, REGION_DEV)]),
            "尉犁县：中央奖励资金和自治区新增资金",
            "12.42",
            "12.42",
        ),
        (
            "652825",
            Funds::All,
            "且末县结转项目质量保证金",
            "566.334",
            "566.33",
        ),
        (
            "652825",
            Funds::Origin(FundOrigin::County),
            "且末县：县级配套资金",
            "393.877",
            "393.88",
        ),
        (
            "652825",
            allocs(&[(CentralAdvance, CENTRAL_DEV)]),
            "且末县：中央提前下达财政专项扶贫资金",
            "61.747",
            "61.75",
        ),
        (
            "652825",
            allocs(&[(CentralAdditional, CENTRAL_DEV)]),
            "且末县：中央新增财政专项扶贫资金",
            "55.36",
            "55.36",
        ),
        (
            "652825",
            Funds::Origin(FundOrigin::Region),
            "且末县：自治区财政专项扶贫资金",
            "43.06",
            "43.06",
        ),
        (
            "652825",
            Funds::Origin(FundOrigin::Prefecture),
            "且末县：自治州财政专项扶贫资金",
            "10.8",
            "10.8",
        ),
        (
            "652825",
            cats(&[CENTRAL_MINORITY]),
            "且末县：少数民族发展资金",
            "1.49",
            "1.49",
        ),
        (
            "652824",
            Funds::All,
            "若羌县结转资金",
            "142.922302",
            "142.922302",
        ),
        (
            "652824",
            cats(&[
                CENTRAL_DEV,
                CENTRAL_MINORITY,
                CENTRAL_FARM,
                REGION_DEV,
                PREFECTURE_DEV,
            ]),
            "若羌县：中央、自治区、自治州结转资金",
            "74.276101",
            "74.276101",
        ),
        (
            "652824",
            Funds::Origin(FundOrigin::County),
            "若羌县：县级配套结转资金",
            "68.646201",
            "68.646201",
        ),
    ];
    for (node, funds, zh, exact, printed) in carry {
        add(
            format!("截至2020年9月25日{zh}"),
            format!("carry-over of {node} on {CARRY_OVER_ON}"),
            node,
            funds,
            on,
            exact,
            printed,
        );
    }
    for c in COUNTIES
        .iter()
        .filter(|c| !["652822", "652823", "652824", "652825"].contains(&c.code))
    {
        // Zero carry-over: a zero figure, printed as such.
        out.push(Expected {
            label_zh: format!("截至2020年9月25日{}无结转资金", c.name),
            label_en: format!("carry-over of {} on {CARRY_OVER_ON}: none", c.code),
            node: c.code,
            funds: Funds::All,
            figure: on,
            yuan: Decimal::ZERO,
            seed_wan: Decimal::ZERO,
        });
    }
    out.push(Expected {
        label_zh: "截至2020年9月25日全州结转财政专项扶贫资金".into(),
        label_en: format!("carry-over of all nine counties on {CARRY_OVER_ON}"),
        node: PREFECTURE,
        funds: Funds::All,
        figure: Figure::SubtreeBalanceOn(CARRY_OVER_ON),
        yuan: wan("1441.162302"),
        seed_wan: Decimal::new(144116, 2),
    });
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::NaiveDate;
    use fundsync_protocol::body::{
        AllocationIssued, FundsReceived, OwnBudgetAdded, PaymentRecorded, ProjectRegistered,
        ProjectStatusChanged, TargetSet,
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
        nodes().into_iter().find(|n| n.code == code)?.parent
    }

    fn level(code: &str) -> Level {
        nodes()
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
                    if level(s.node) != Level::County {
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
            }
        }

        fn run() -> Sim {
            let mut sim = Sim::default();
            for (i, s) in steps().iter().enumerate() {
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
                Figure::BalanceOn(d) => idx
                    .filter(|&i| {
                        let a = &self.allocs[i];
                        a.holder == node && a.on <= d && self.matches(i, funds)
                    })
                    .map(|i| self.balance(i, d))
                    .sum(),
                Figure::SubtreeBalanceOn(d) => nodes()
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
        let all = expected();
        assert!(all.len() > 80, "{} figures", all.len());
        for e in &all {
            let got = sim.figure(e.node, &e.funds, e.figure);
            assert_eq!(got, e.yuan, "{} / {}", e.label_zh, e.label_en);
        }
    }

    #[test]
    fn exact_figures_round_to_what_the_seed_prints() {
        let mut differ = Vec::new();
        for e in expected() {
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
        let batches: Decimal = BATCHES
            .iter()
            .map(|b| f(PREFECTURE, Funds::All, Figure::IssuedOn(b.on)))
            .sum();
        assert_eq!(batches, Decimal::from(107_941));
        let counties: Decimal = COUNTIES
            .iter()
            .map(|c| f(c.code, Funds::All, Figure::ReceivedUpTo(LAST_BATCH_ON)))
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
        assert_eq!(days, BATCHES.iter().map(|b| b.on).collect());
        // The region passes on exactly what it got and budgeted.
        assert_eq!(
            f(REGION, Funds::All, Figure::IssuedUpTo(LAST_BATCH_ON)),
            Decimal::from(104_041)
        );
    }

    #[test]
    fn carry_over_at_the_prefecture_is_the_counties_sum() {
        let sim = Sim::run();
        let counties: Decimal = COUNTIES
            .iter()
            .map(|c| sim.figure(c.code, &Funds::All, Figure::BalanceOn(CARRY_OVER_ON)))
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
        let mut payments = 0;
        for s in steps() {
            match s.action {
                Action::Target { project, .. } => {
                    targets.insert((s.node, project));
                }
                Action::Payment {
                    voucher_no,
                    project,
                    ..
                } => {
                    payments += 1;
                    assert!(targets.contains(&(s.node, project.clone())), "{project}");
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
        let all = steps();
        assert!(all.len() < 700, "{} steps", all.len());
        let mut last = day(2019, 12, 1);
        for s in &all {
            assert!(s.on >= last, "{s:?} out of order");
            assert!(s.on <= day(2020, 12, 31), "{s:?}");
            last = s.on;
            let amount = match &s.action {
                Action::FundsReceived { amount, .. }
                | Action::OwnBudget { amount, .. }
                | Action::Issue { amount, .. }
                | Action::Payment { amount, .. } => Some(*amount),
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
        for s in steps() {
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
        let all = nodes();
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
        for s in steps() {
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
        for s in steps() {
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
            };
            assert_eq!(body.validate(), Ok(()), "{body:?}");
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
        let steps = steps();
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
