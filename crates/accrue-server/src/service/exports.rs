//! Exports: a CSV of a program's members (with their balance in the default currency),
//! written in the background a part at a time, so a large program's export neither holds
//! the database writer long nor keeps the whole file in memory; its progress is readable
//! while it runs and its file once it is done.

use crate::format::time;
use crate::service::postings::currency;
use accrue_core::csv;
use accrue_core::money::format_minor;
use accrue_store::exports::{Export, MemberLine, Part};
use accrue_store::{Store, StoreError};

/// Members per part: one short write each.
pub const PART_ROWS: i64 = 1000;
pub const KINDS: [&str; 1] = ["members"];
const MEMBER_COLUMNS: [&str; 8] = [
    "id",
    "phone",
    "email",
    "first_name",
    "last_name",
    "state",
    "joined_at",
    "balance",
];

/// Starts an export of `kind` (one of [`KINDS`]) for whoever asked.
pub async fn start(store: &Store, program_id: i64, kind: &str, requested_by: &str) -> Result<Export, StoreError> {
    if !KINDS.contains(&kind) {
        return Err(StoreError::Invalid(format!("kind must be one of {}", KINDS.join(", "))));
    }
    store
        .begin_export(program_id, kind.to_string(), requested_by.to_string())
        .await
}

/// Writes the next part of a running export. Returns the export as it then stands
/// while more parts follow; none once it is done, or when another server moved it on
/// meanwhile (it is left to that one).
pub async fn write_next(store: &Store, export: &Export) -> Result<Option<Export>, StoreError> {
    let currency = currency(store, export.program_id, None).await?;
    let lines = store
        .member_lines(export.program_id, currency.id, export.last_key, PART_ROWS)
        .await?;
    let mut body = if export.last_key == 0 {
        csv::line(&MEMBER_COLUMNS)
    } else {
        String::new()
    };
    for member in &lines {
        body.push_str(&member_line(member, currency.scale));
    }
    let part = Part {
        rows: lines.len() as i64,
        last_key: lines.last().map_or(export.last_key, |m| m.id),
        body,
        last: (lines.len() as i64) < PART_ROWS,
    };
    let next = Export {
        rows_done: export.rows_done + part.rows,
        last_key: part.last_key,
        ..export.clone()
    };
    let last = part.last;
    let written = store.add_export_part(export.id, export.last_key, part).await?;
    Ok((written && !last).then_some(next))
}

fn member_line(m: &MemberLine, scale: u32) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    csv::line(&[
        m.id.to_string(),
        text(&m.phone),
        text(&m.email),
        text(&m.first_name),
        text(&m.last_name),
        m.state.clone(),
        time(m.created_at),
        format_minor(m.balance, scale),
    ])
}
