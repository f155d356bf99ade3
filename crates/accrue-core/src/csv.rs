//! Writing CSV for people's spreadsheets: `,` between cells, `"` around a cell that
//! holds `,`, `"` or a line break (a quote inside doubled), lines ended by CRLF. A cell
//! a spreadsheet would run as a formula (`=`, `@`, a tab, or `+`/`-` not followed by a
//! plain number such as a phone) starts with `'` instead, so an exported name cannot
//! become a formula on the operator's machine.

/// One cell, quoted or guarded as needed.
pub fn cell(text: &str) -> String {
    let guarded = if runs_as_formula(text) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// A line of cells, with its CRLF.
pub fn line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = cells.iter().map(|c| cell(c.as_ref())).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

fn runs_as_formula(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => {
            let rest = chars.as_str();
            rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit() || c == '.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::csv_cells;
    use proptest::prelude::*;

    #[test]
    fn cells_are_quoted_and_formulas_guarded() {
        assert_eq!(cell("Anna"), "Anna");
        assert_eq!(cell("Petrova, Anna"), "\"Petrova, Anna\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("+79161234567"), "+79161234567", "a phone stays a phone");
        assert_eq!(cell("-12.50"), "-12.50");
        assert_eq!(cell("+1+cmd"), "'+1+cmd");
        assert_eq!(line(&["1", "a,b"]), "1,\"a,b\"\r\n");
    }

    proptest! {
        /// What is written reads back as it was (the batch reader trims cells, and a
        /// guarded cell keeps its `'`).
        #[test]
        fn written_cells_read_back(cells in proptest::collection::vec("[^\r\n]{0,12}", 1..6)) {
            let written = line(&cells);
            let read = csv_cells(&written).unwrap();
            let expected: Vec<String> = cells
                .iter()
                .map(|c| if runs_as_formula(c) { format!("'{c}") } else { c.clone() })
                .map(|c| c.trim().to_string())
                .collect();
            prop_assert_eq!(read, expected);
        }
    }
}
