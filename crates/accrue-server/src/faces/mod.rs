//! The vendor protocols Accrue speaks. Each face parses its wire format, calls the
//! store, and renders the vendor's answer shape; none writes SQL.

pub mod batch;
pub mod imshop;
pub mod integra;
pub mod loymax;
pub mod referral;
pub mod social;
pub mod tracker;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// What a face must leave to the service layer and the store: SQL, the offers engine,
    /// ledger movements and purchase steps.
    const FORBIDDEN: [&str; 14] = [
        "sqlx",
        "offers::calculate",
        "offers::accrual",
        "offers::refund_share",
        "offers::distribute",
        "Movement",
        "process_purchase",
        "enabled_offers",
        "purchase_facts",
        ".accrue(",
        ".withdraw(",
        ".hold(",
        ".capture(",
        ".void(",
    ];

    fn sources(dir: &Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }

    #[test]
    fn faces_are_adapters() {
        let mut files = Vec::new();
        sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/faces"), &mut files);
        assert!(files.len() > 10, "the faces' sources are found");
        let mut breaches = Vec::new();
        for (path, text) in &files {
            // Production code only: unit tests may build what they check.
            let production = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in production.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for word in FORBIDDEN.iter().filter(|w| code.contains(*w)) {
                    breaches.push(format!("{path}:{}: {word}", n + 1));
                }
            }
        }
        assert!(
            breaches.is_empty(),
            "faces must call the service layer instead:\n{}",
            breaches.join("\n")
        );
    }
}
