//! Batch balance operations: a JSON request is kept and posted at once (whole, or row by
//! row); a file is kept as it arrives and posted by the worker in bounded writes, so
//! tills never wait long for the database. Every row's outcome is kept.

use crate::service::postings::currency;
use accrue_core::batch::{csv_columns, csv_row, row_of, BatchError, Header, Mode, Request, Row};
use accrue_core::lifetimes::LifetimeDefinition;
use accrue_core::money::to_minor;
use accrue_core::Millis;
use accrue_store::batch::{BatchRequest, BatchSettings, Decision, NewBatch, Posting};
use accrue_store::ledger::Lifetime;
use accrue_store::{MemberSearch, Store, StoreError};
use chrono::{FixedOffset, NaiveDateTime, TimeZone};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Rows decided per write: small enough that a till's write waits a few milliseconds.
pub const CHUNK: usize = 100;
/// Rows of an arriving file kept per write.
const FILE_CHUNK: usize = 1000;

/// What rows of a request are posted with: how members are found, the currency's scale,
/// the lifetime of accrued points, the program's zone, and the members already found
/// (a file often names one member on many rows).
struct Context {
    settings: BatchSettings,
    scale: u32,
    lifetime: Option<LifetimeDefinition>,
    utc_offset_minutes: i32,
    members: HashMap<String, Option<i64>>,
}

async fn context(store: &Store, batch: &BatchRequest) -> Result<Context, StoreError> {
    let currencies = store.currencies(batch.program_id).await?;
    let scale = currencies
        .iter()
        .find(|c| c.id == batch.currency_id)
        .map(|c| c.scale)
        .ok_or(StoreError::NotFound("currency"))?;
    Ok(Context {
        settings: store.batch_settings(batch.program_id).await?.unwrap_or_default(),
        scale,
        lifetime: store
            .lifetime(batch.program_id, batch.lifetime.as_deref())
            .await?
            .map(|l| l.definition),
        utc_offset_minutes: store.processing_settings(batch.program_id).await?.utc_offset_minutes,
        members: HashMap::new(),
    })
}

/// The new request's header as kept: its currency and lifetime must exist.
async fn new_batch(
    store: &Store,
    program_id: i64,
    h: &Header,
    fingerprint: String,
    file: bool,
) -> Result<NewBatch, StoreError> {
    let currency = currency(store, program_id, h.currency.as_deref()).await?;
    if h.kind.credits() || h.lifetime.is_some() {
        store.lifetime(program_id, h.lifetime.as_deref()).await?;
    }
    Ok(NewBatch {
        program_id,
        request_id: h.request_id.clone(),
        kind: h.kind,
        fingerprint,
        mode: h.mode,
        description: h.description.clone(),
        currency_id: currency.id,
        lifetime: h.lifetime.clone(),
        file,
    })
}

/// A JSON request: kept and posted now; the request as it ended (a repeat of an earlier
/// one answers that one).
pub async fn submit(store: &Store, program_id: i64, request: Request) -> Result<BatchRequest, StoreError> {
    let header = Header {
        request_id: request.request_id.clone(),
        kind: request.kind,
        description: request.description.clone(),
        currency: request.currency.clone(),
        lifetime: request.lifetime.clone(),
        mode: request.mode,
    };
    let new = new_batch(store, program_id, &header, request.fingerprint.clone(), false).await?;
    let (batch, replayed) = store.begin_batch(new, request.rows).await?;
    // A repeat of an all-or-nothing request whose first call stopped before posting
    // posts it; otherwise a repeat answers what the first call made.
    let unfinished = batch.mode == Mode::AllOrNothing && batch.state == "running";
    if replayed && !unfinished {
        return Ok(batch);
    }
    match batch.mode {
        Mode::AllOrNothing => post_whole(store, &batch).await?,
        Mode::RowByRow => while post_next(store, &batch).await? {},
    }
    store.batch_request(program_id, &batch.request_id).await
}

/// Posts an all-or-nothing request: every row, or (when one cannot post) none, each
/// row then saying why.
async fn post_whole(store: &Store, batch: &BatchRequest) -> Result<(), StoreError> {
    let mut ctx = context(store, batch).await?;
    let rows = store.batch_rows(batch.id, 1, batch.total_rows).await?;
    let mut decisions = Vec::with_capacity(rows.len());
    for row in &rows {
        decisions.push((row.row_no, decide(store, batch, &mut ctx, &row.row).await?));
    }
    let postings: Vec<(i64, Posting)> = decisions
        .iter()
        .filter_map(|(n, d)| match d {
            Decision::Post(p) => Some((*n, p.clone())),
            Decision::Refuse { .. } => None,
        })
        .collect();
    let total = rows.len() as i64;
    if postings.len() == rows.len() {
        let done = answer(batch, total, 0);
        match store.post_batch_whole(batch, postings, done).await {
            Ok(Ok(())) | Err(StoreError::Conflict(_)) => return Ok(()),
            Err(e) => return Err(e),
            Ok(Err(refused)) => {
                decisions = decisions
                    .into_iter()
                    .map(|(n, d)| {
                        let outcome = if n == refused.row_no {
                            refused.outcome
                        } else {
                            "not_posted"
                        };
                        (
                            n,
                            Decision::Refuse {
                                outcome,
                                member_id: member_of(&d),
                            },
                        )
                    })
                    .collect();
            }
        }
    } else {
        decisions = decisions
            .into_iter()
            .map(|(n, d)| match d {
                Decision::Post(p) => (
                    n,
                    Decision::Refuse {
                        outcome: "not_posted",
                        member_id: Some(p.member_id),
                    },
                ),
                refused => (n, refused),
            })
            .collect();
    }
    store.post_batch_rows(batch, decisions).await?;
    store.finish_batch(batch.id, answer(batch, 0, total)).await
}

fn member_of(d: &Decision) -> Option<i64> {
    match d {
        Decision::Post(p) => Some(p.member_id),
        Decision::Refuse { member_id, .. } => *member_id,
    }
}

/// Decides the next chunk of a row-by-row request, and ends it after its last row;
/// whether rows remain.
pub async fn post_next(store: &Store, batch: &BatchRequest) -> Result<bool, StoreError> {
    let batch = store.batch_request(batch.program_id, &batch.request_id).await?;
    if batch.state != "running" {
        return Ok(false);
    }
    if batch.processed_rows < batch.total_rows {
        let mut ctx = context(store, &batch).await?;
        let rows = store
            .batch_rows(batch.id, batch.processed_rows + 1, CHUNK as i64)
            .await?;
        let mut decisions = Vec::with_capacity(rows.len());
        for row in &rows {
            decisions.push((row.row_no, decide(store, &batch, &mut ctx, &row.row).await?));
        }
        // Another server (or the worker) decided these rows first: read on from there.
        match store.post_batch_rows(&batch, decisions).await {
            Ok(()) | Err(StoreError::Conflict(_)) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    store
        .finish_batch(batch.id, answer(&batch, batch.posted_rows, batch.failed_rows))
        .await?;
    Ok(false)
}

/// The protocol's answer: status 0 when every row posted, 1 otherwise.
fn answer(batch: &BatchRequest, posted: i64, failed: i64) -> Value {
    let (status, message) = if failed == 0 {
        (0, "Операция выполнена успешно".to_string())
    } else if posted == 0 {
        (1, format!("Операция не выполнена: не проведено строк — {failed}"))
    } else {
        (1, format!("Проведено строк: {posted}, не проведено: {failed}"))
    };
    json!({"requestId": batch.request_id, "type": batch.kind.code(), "status": status, "message": message})
}

/// What to do with one row.
async fn decide(store: &Store, batch: &BatchRequest, ctx: &mut Context, row: &Row) -> Result<Decision, StoreError> {
    let member_id = match ctx.members.get(&row.member_no) {
        Some(known) => *known,
        None => {
            let found = find_member(store, batch.program_id, &ctx.settings, &row.member_no).await?;
            ctx.members.insert(row.member_no.clone(), found);
            found
        }
    };
    let amount = row.points_amount.and_then(|d| to_minor(d, ctx.scale).ok());
    let (Some(member_id), Some(amount)) = (member_id, amount) else {
        let outcome = if member_id.is_none() {
            "member_unknown"
        } else {
            "bad_amount"
        };
        return Ok(Decision::Refuse { outcome, member_id });
    };
    let now = store.now();
    let life = match (&ctx.lifetime, batch.kind.credits()) {
        (Some(def), true) => def.span(now, ctx.utc_offset_minutes).into(),
        _ => Lifetime::default(),
    };
    let description = row
        .description
        .clone()
        .or_else(|| batch.description.clone())
        .unwrap_or_else(|| batch.kind.default_description().to_string());
    Ok(Decision::Post(Posting {
        member_id,
        amount,
        life,
        description,
        place: row.merchant_name.clone(),
        occurred_at: row
            .operation_date
            .as_deref()
            .and_then(|d| local_moment(d, ctx.utc_offset_minutes)),
    }))
}

/// `2013-08-14 12:26:14` (or with a `T`) in the program's zone.
fn local_moment(text: &str, utc_offset_minutes: i32) -> Option<Millis> {
    let t = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let zone = FixedOffset::east_opt(utc_offset_minutes * 60)?;
    Some(zone.from_local_datetime(&t).single()?.timestamp_millis())
}

/// The member a `memberNo` names, looked for the ways the program set, in order.
async fn find_member(store: &Store, program_id: i64, s: &BatchSettings, no: &str) -> Result<Option<i64>, StoreError> {
    for way in &s.member_no {
        let search = match way.as_str() {
            "card" => MemberSearch::Card(no.into()),
            "phone" => MemberSearch::Phone(no.into()),
            "member_id" => match no.parse::<i64>() {
                Ok(id) => match store.member(program_id, id).await {
                    Ok(m) => return Ok(Some(m.id)),
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                },
                Err(_) => continue,
            },
            other => match other.strip_prefix("external_id:") {
                Some(source) => MemberSearch::ExternalId {
                    source: source.into(),
                    id: no.into(),
                },
                None => continue,
            },
        };
        match store.find_member(program_id, search).await {
            Ok(m) => return Ok(Some(m.id)),
            Err(StoreError::NotFound(_) | StoreError::Invalid(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// A file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// A header line, then a row per line.
    Csv,
    /// A JSON row object per line.
    JsonLines,
}

/// Reads an uploaded file line by line as it arrives and keeps its rows; the request,
/// `running` once its last row is kept. A line that does not read drops the file (its
/// request id may be used again) and says which line.
pub async fn receive_file<S, E>(
    store: &Store,
    program_id: i64,
    header: Header,
    format: FileFormat,
    mut body: S,
) -> Result<BatchRequest, StoreError>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let provisional = format!("receiving:{}", store.now());
    let new = new_batch(store, program_id, &header, provisional, true).await?;
    let batch = match store.begin_batch(new, Vec::new()).await {
        Ok((batch, _)) => batch,
        Err(StoreError::IdempotencyMismatch) => return replayed_file(store, program_id, &header, body).await,
        Err(e) => return Err(e),
    };
    let mut reader = FileReader::new(format);
    let mut hash = Sha256::new();
    let mut pending = Vec::new();
    let mut next_row_no = 1;
    let result: Result<(), StoreError> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StoreError::Invalid(format!("the upload broke off: {e}")))?;
            hash.update(&chunk);
            for row in reader.feed(&chunk).map_err(|e| StoreError::Invalid(e.0))? {
                pending.push(row);
                if pending.len() == FILE_CHUNK {
                    store
                        .add_batch_rows(batch.id, next_row_no, std::mem::take(&mut pending))
                        .await?;
                    next_row_no += FILE_CHUNK as i64;
                }
            }
        }
        pending.extend(reader.finish().map_err(|e| StoreError::Invalid(e.0))?);
        if pending.is_empty() && next_row_no == 1 {
            return Err(StoreError::Invalid("the file has no rows".into()));
        }
        store.add_batch_rows(batch.id, next_row_no, pending).await
    }
    .await;
    if let Err(e) = result {
        store.drop_batch(batch.id).await?;
        return Err(e);
    }
    store.seal_batch(batch.id, hex::encode(hash.finalize())).await?;
    store.batch_request(program_id, &batch.request_id).await
}

/// A file sent again under its request id: the same bytes answer the request kept;
/// other bytes (or a file still arriving) are a conflict.
async fn replayed_file<S, E>(
    store: &Store,
    program_id: i64,
    header: &Header,
    mut body: S,
) -> Result<BatchRequest, StoreError>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let earlier = store.batch_request(program_id, &header.request_id).await?;
    let mut hash = Sha256::new();
    while let Some(chunk) = body.next().await {
        hash.update(&chunk.map_err(|e| StoreError::Invalid(format!("the upload broke off: {e}")))?);
    }
    let same =
        earlier.source == "file" && earlier.kind == header.kind && earlier.fingerprint == hex::encode(hash.finalize());
    if same {
        Ok(earlier)
    } else {
        Err(StoreError::IdempotencyMismatch)
    }
}

/// Splits arriving bytes into lines and reads each as a row.
struct FileReader {
    format: FileFormat,
    buffer: Vec<u8>,
    columns: Option<Vec<String>>,
    line_no: usize,
}

/// The longest line read.
const MAX_LINE: usize = 16 * 1024;

impl FileReader {
    fn new(format: FileFormat) -> FileReader {
        FileReader {
            format,
            buffer: Vec::new(),
            columns: None,
            line_no: 0,
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Row>, BatchError> {
        self.buffer.extend_from_slice(chunk);
        let mut rows = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            if let Some(row) = self.line(&line)? {
                rows.push(row);
            }
        }
        if self.buffer.len() > MAX_LINE {
            return Err(BatchError(format!(
                "line {} is longer than {MAX_LINE} bytes",
                self.line_no + 1
            )));
        }
        Ok(rows)
    }

    fn finish(&mut self) -> Result<Vec<Row>, BatchError> {
        let rest = std::mem::take(&mut self.buffer);
        Ok(self.line(&rest)?.into_iter().collect())
    }

    fn line(&mut self, bytes: &[u8]) -> Result<Option<Row>, BatchError> {
        self.line_no += 1;
        let at = |e: BatchError| BatchError(format!("line {}: {}", self.line_no, e.0));
        let text = std::str::from_utf8(bytes).map_err(|_| at(BatchError("not UTF-8".into())))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        match self.format {
            FileFormat::JsonLines => {
                let value: Value = serde_json::from_str(text).map_err(|e| at(BatchError(format!("not JSON: {e}"))))?;
                row_of(&value).map(Some).map_err(at)
            }
            FileFormat::Csv => match &self.columns {
                None => {
                    self.columns = Some(csv_columns(text).map_err(at)?);
                    Ok(None)
                }
                Some(columns) => csv_row(columns, text).map(Some).map_err(at),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_read_across_chunk_boundaries() {
        let mut reader = FileReader::new(FileFormat::Csv);
        let mut rows = reader.feed(b"memberNo,pointsAmount\n7916").unwrap();
        rows.extend(reader.feed(b"1234567,10\n\n4001,").unwrap());
        rows.extend(reader.feed(b"2.5").unwrap());
        rows.extend(reader.finish().unwrap());
        let numbers: Vec<&str> = rows.iter().map(|r| r.member_no.as_str()).collect();
        assert_eq!(numbers, ["79161234567", "4001"]);
        let mut lines = FileReader::new(FileFormat::JsonLines);
        assert!(lines
            .feed(b"{\"memberNo\": \"1\", \"pointsAmount\": 1}\nnot json\n")
            .unwrap_err()
            .0
            .starts_with("line 2"));
    }

    #[test]
    fn operation_dates_are_program_local() {
        let utc = local_moment("2013-08-14 12:26:14", 0).unwrap();
        assert_eq!(local_moment("2013-08-14T15:26:14", 180), Some(utc));
        assert_eq!(local_moment("14.08.2013", 0), None);
    }
}
