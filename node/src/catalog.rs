//! The fund catalog shipped with the program: the categories of seed 000
//! (central 41, region 20) and seed 001, plus the demo's split categories.
//! See `node/catalog/README.md` for where each row comes from.
//!
//! Every node stores every shipped row (so an entry naming any of them is
//! read the same everywhere), but each list is *offered* (the catalog page
//! and API, the forms' choices, the search filter) only to the nodes of the
//! province it was written for: [`offered`].

use fundsync_protocol::body::CategoryDefined;
use fundsync_protocol::NodeCode;

const CATALOG_CSV: &str = include_str!("../catalog/catalog.csv");

/// The shipped categories. The file is part of the binary and checked by a
/// test, so parsing it cannot fail at run time; a bad row is skipped.
pub fn shipped() -> Vec<CategoryDefined> {
    parse(CATALOG_CSV).unwrap_or_default()
}

/// The province a shipped list was written for, by the first two digits of
/// a node's code (GB/T 2260): seed 000 and the demo rows are Xinjiang's
/// (`65`), seed 001's `S1-` lists a Shaanxi county's (`61`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Province {
    /// 新疆维吾尔自治区, node codes `65xxxx`.
    Xinjiang,
    /// 陕西省, node codes `61xxxx`.
    Shaanxi,
}

impl Province {
    /// The province of a node's code, if a shipped list is written for it.
    pub fn of_node(node: &NodeCode) -> Option<Province> {
        match &node.as_str()[..2] {
            "65" => Some(Province::Xinjiang),
            "61" => Some(Province::Shaanxi),
            _ => None,
        }
    }

    /// The province whose list holds the shipped category `code`.
    pub fn of_category(code: &str) -> Province {
        if code.starts_with("S1-") {
            Province::Shaanxi
        } else {
            Province::Xinjiang
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Province::Xinjiang => "新疆",
            Province::Shaanxi => "陕西",
        }
    }
}

/// Whether the category `code` is offered to the node `node`. A category a
/// node defined itself (`defined_by` set) is offered everywhere it is
/// known; a shipped one to the nodes of its list's province
/// ([`Province`]). A node of a province no shipped list is written for is
/// offered every list: hiding them all would leave its forms without a
/// choice until it defines its own.
pub fn offered(node: &NodeCode, code: &str, defined_by: Option<&str>) -> bool {
    if defined_by.is_some() {
        return true;
    }
    match Province::of_node(node) {
        Some(p) => Province::of_category(code) == p,
        None => true,
    }
}

fn parse(text: &str) -> Result<Vec<CategoryDefined>, String> {
    #[derive(serde::Deserialize)]
    struct Row {
        code: String,
        name: String,
        origin: String,
        department: String,
        classified: bool,
    }
    let mut out = Vec::new();
    for (i, r) in csv::Reader::from_reader(text.as_bytes())
        .deserialize::<Row>()
        .enumerate()
    {
        let r = r.map_err(|e| format!("catalog row {}: {e}", i + 2))?;
        out.push(CategoryDefined {
            origin: r
                .origin
                .parse()
                .map_err(|e| format!("catalog row {}: {e}", i + 2))?,
            code: r.code,
            name: r.name,
            department: r.department,
            classified: r.classified,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use fundsync_protocol::FundOrigin;

    #[test]
    fn shipped_catalog_parses_and_matches_the_seeds() {
        let all = super::parse(super::CATALOG_CSV).expect("catalog parses");
        let count = |prefix: &str| all.iter().filter(|c| c.code.starts_with(prefix)).count();
        // Seed 000 lists 41 central and 20 region items.
        assert_eq!(count("C-"), 41);
        assert_eq!(count("R-"), 20);
        let bonds: Vec<_> = all
            .iter()
            .filter(|c| c.origin == FundOrigin::Bond)
            .collect();
        assert_eq!(bonds.len(), 1);
        assert!(all.iter().any(|c| c.classified && c.name.contains("涉密")));
        let mut codes: Vec<_> = all.iter().map(|c| &c.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "codes are unique");
        // No name carries the year of the document that listed it.
        assert!(all.iter().all(|c| !c.name.starts_with("2018年")));
        let bond = all.iter().find(|c| c.code == "R-16").expect("R-16");
        assert_eq!(bond.name, "地方政府债券用于脱贫攻坚项目资金");
        // The counties' own poverty funds of the demo have a row of their
        // own, not seed 001's Shaanxi item S1-K-02.
        let county = all.iter().find(|c| c.code == "X-06").expect("X-06");
        assert_eq!(county.origin, FundOrigin::County);
        assert_eq!(county.name, "县级财政专项扶贫资金");
        assert_eq!(all.len(), 215);
    }

    #[test]
    fn each_node_is_offered_the_lists_of_its_province() {
        use super::{offered, Province};
        let code = |c: &str| -> fundsync_protocol::NodeCode {
            c.parse().unwrap_or_else(|_| panic!("{c} is a node code"))
        };
        let (xj, sx, gs) = (code("652822"), code("610800"), code("620000"));
        assert_eq!(Province::of_node(&xj), Some(Province::Xinjiang));
        assert_eq!(Province::of_node(&sx), Some(Province::Shaanxi));
        assert_eq!(Province::of_node(&gs), None);
        let all = super::shipped();
        let to = |n| {
            all.iter()
                .filter(|c| offered(n, &c.code, None))
                .map(|c| c.code.as_str())
                .collect::<Vec<_>>()
        };
        let x = to(&xj);
        assert_eq!(x.len(), 41 + 20 + 6);
        assert!(x.iter().all(|c| !c.starts_with("S1-")));
        assert!(x.contains(&"X-06") && x.contains(&"R-16"));
        let s = to(&sx);
        assert_eq!(s.len(), 42 + 36 + 49 + 21);
        assert!(s.iter().all(|c| c.starts_with("S1-")));
        assert_eq!(to(&gs).len(), all.len());
        // A node's own categories are offered wherever they are known.
        assert!(offered(&xj, "S1-K-02", Some("610827")));
        assert!(offered(&sx, "BZ-01", Some("652800")));
    }
}
