//! The fund catalog shipped with the program: the categories of seed 000
//! (central 41, region 20) and seed 001, plus the demo's split categories.
//! See `node/catalog/README.md` for where each row comes from.

use fundsync_protocol::body::CategoryDefined;

const CATALOG_CSV: &str = include_str!("../catalog/catalog.csv");

/// The shipped categories. The file is part of the binary and checked by a
/// test, so parsing it cannot fail at run time; a bad row is skipped.
pub fn shipped() -> Vec<CategoryDefined> {
    parse(CATALOG_CSV).unwrap_or_default()
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
    }
}
