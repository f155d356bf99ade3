//! Batch balance operations (Loymax's batch service): the face's key and settings per
//! program, requests with their rows and progress, and posting rows in bounded writes.
//!
//! A request is kept whole before any row is posted (a file arrives in several writes,
//! `receiving` until its last row); rows are then decided in order, `processed_rows`
//! being how far, so a worker that stops resumes where the last commit left off.

use crate::ledger::{accrue_in, withdraw_in, Cause, Lifetime, Movement};
use crate::{Store, StoreError, Tx};
use accrue_core::batch::{BatchType, Mode, Row};
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row as _;

/// How a `memberNo` is looked for, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    /// `card`, `phone`, `member_id` or `external_id:<source>`, tried in this order.
    #[serde(default = "default_member_no")]
    pub member_no: Vec<String>,
    /// Addresses or networks the back office calls from; any when empty.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
}

fn default_member_no() -> Vec<String> {
    vec!["card".into(), "phone".into()]
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            member_no: default_member_no(),
            allowed_ips: Vec::new(),
        }
    }
}

impl BatchSettings {
    pub fn validate(&self) -> Result<(), StoreError> {
        let known = |m: &String| {
            matches!(m.as_str(), "card" | "phone" | "member_id")
                || m.strip_prefix("external_id:")
                    .is_some_and(|s| !s.is_empty() && s.len() <= 64)
        };
        if self.member_no.is_empty() || !self.member_no.iter().all(known) {
            return Err(StoreError::Invalid(
                "member_no lists card, phone, member_id or external_id:<source>".into(),
            ));
        }
        Ok(())
    }
}

/// Rows of one batch type posted in one currency, and the points they moved (minor
/// units, unsigned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTotal {
    pub kind: BatchType,
    pub currency_id: i64,
    pub rows: i64,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRequest {
    pub id: i64,
    pub program_id: i64,
    pub request_id: String,
    pub kind: BatchType,
    pub fingerprint: String,
    pub mode: Mode,
    pub description: Option<String>,
    pub currency_id: i64,
    pub lifetime: Option<String>,
    /// `request` or `file`.
    pub source: String,
    /// `receiving`, `running` or `done`.
    pub state: String,
    pub total_rows: i64,
    pub processed_rows: i64,
    pub posted_rows: i64,
    pub failed_rows: i64,
    /// The protocol's answer, once done.
    pub answer: Option<Value>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}

/// A new request's header (its rows come separately).
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub program_id: i64,
    pub request_id: String,
    pub kind: BatchType,
    pub fingerprint: String,
    pub mode: Mode,
    pub description: Option<String>,
    pub currency_id: i64,
    pub lifetime: Option<String>,
    /// Whether the rows come in several writes (a file).
    pub file: bool,
}

/// A row as kept, with its outcome once decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchRow {
    pub row_no: i64,
    pub row: Row,
    pub outcome: Option<String>,
    pub member_id: Option<i64>,
    pub posting_id: Option<i64>,
}

/// What to do with a row: post it, or record why not.
#[derive(Debug, Clone)]
pub enum Decision {
    Post(Posting),
    Refuse {
        outcome: &'static str,
        member_id: Option<i64>,
    },
}

#[derive(Debug, Clone)]
pub struct Posting {
    pub member_id: i64,
    pub amount: i64,
    pub life: Lifetime,
    pub description: String,
    pub place: Option<String>,
    pub occurred_at: Option<Millis>,
}

/// A row of an all-or-nothing request that could not post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub row_no: i64,
    pub outcome: &'static str,
}

const REQUEST_COLUMNS: &str =
    "id, program_id, request_id, kind, fingerprint, mode, description, currency_id, lifetime, \
     source, state, total_rows, processed_rows, posted_rows, failed_rows, answer, created_at, finished_at";

fn request_from(row: &AnyRow) -> Result<BatchRequest, StoreError> {
    let kind: i64 = row.try_get(3)?;
    let mode: String = row.try_get(5)?;
    let answer: Option<String> = row.try_get(15)?;
    Ok(BatchRequest {
        id: row.try_get(0)?,
        program_id: row.try_get(1)?,
        request_id: row.try_get(2)?,
        kind: BatchType::from_code(kind).ok_or_else(|| StoreError::Internal(format!("batch type {kind}")))?,
        fingerprint: row.try_get(4)?,
        mode: serde_json::from_value(Value::String(mode))?,
        description: row.try_get(6)?,
        currency_id: row.try_get(7)?,
        lifetime: row.try_get(8)?,
        source: row.try_get(9)?,
        state: row.try_get(10)?,
        total_rows: row.try_get(11)?,
        processed_rows: row.try_get(12)?,
        posted_rows: row.try_get(13)?,
        failed_rows: row.try_get(14)?,
        answer: answer.map(|a| serde_json::from_str(&a)).transpose()?,
        created_at: row.try_get(16)?,
        finished_at: row.try_get(17)?,
    })
}

const ROW_COLUMNS: &str = "row_no, member_no, description, operation_date, merchant_name, transaction_amount, \
                           points_amount, outcome, member_id, posting_id";

fn row_from(row: &AnyRow) -> Result<BatchRow, StoreError> {
    let decimal = |text: Option<String>| text.and_then(|t| t.parse().ok());
    Ok(BatchRow {
        row_no: row.try_get(0)?,
        row: Row {
            member_no: row.try_get(1)?,
            description: row.try_get(2)?,
            operation_date: row.try_get(3)?,
            merchant_name: row.try_get(4)?,
            transaction_amount: decimal(row.try_get(5)?),
            points_amount: decimal(row.try_get(6)?),
        },
        outcome: row.try_get(7)?,
        member_id: row.try_get(8)?,
        posting_id: row.try_get(9)?,
    })
}

fn mode_text(mode: Mode) -> String {
    serde_json::to_value(mode)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// How many rows one INSERT carries.
const INSERT_ROWS: usize = 100;

async fn insert_rows(tx: &mut Tx, batch_id: i64, first_row_no: i64, rows: &[Row]) -> Result<(), StoreError> {
    for (n, chunk) in rows.chunks(INSERT_ROWS).enumerate() {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", crate::placeholders(i * 8 + 1, 8)))
            .collect();
        let sql = format!(
            "INSERT INTO batch_rows (batch_id, row_no, member_no, description, operation_date, merchant_name, \
             transaction_amount, points_amount) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (i, row) in chunk.iter().enumerate() {
            let row_no = first_row_no + (n * INSERT_ROWS + i) as i64;
            query = query
                .bind(batch_id)
                .bind(row_no)
                .bind(row.member_no.clone())
                .bind(row.description.clone())
                .bind(row.operation_date.clone())
                .bind(row.merchant_name.clone())
                .bind(row.transaction_amount.map(|d| d.to_string()))
                .bind(row.points_amount.map(|d| d.to_string()));
        }
        query.execute(tx.conn()).await?;
    }
    Ok(())
}

async fn request_in(tx: &mut Tx, id: i64) -> Result<BatchRequest, StoreError> {
    let row = sqlx::query(&format!("SELECT {REQUEST_COLUMNS} FROM batch_requests WHERE id = $1"))
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    request_from(&row)
}

/// Posts one row; the outcome to record (`posted` with its posting, or why not). An
/// error that is not the row's own fails the whole write.
async fn post_row(
    tx: &mut Tx,
    batch: &BatchRequest,
    row_no: i64,
    p: &Posting,
) -> Result<(&'static str, Option<i64>), StoreError> {
    let m = Movement {
        member_id: p.member_id,
        currency_id: batch.currency_id,
        amount: p.amount,
        card: None,
        description: p.description.clone(),
        cause: Cause::operation(&format!("batch:{}:{row_no}", batch.request_id)),
    };
    let posted = if batch.kind.credits() {
        accrue_in(tx, batch.program_id, m, p.life.clone()).await
    } else {
        withdraw_in(tx, batch.program_id, m).await
    };
    match posted {
        Ok(receipt) => {
            sqlx::query(
                "INSERT INTO posting_notes (posting_id, place, occurred_at, batch_type) VALUES ($1, $2, $3, $4)",
            )
            .bind(receipt.posting_id)
            .bind(&p.place)
            .bind(p.occurred_at)
            .bind(batch.kind.code())
            .execute(tx.conn())
            .await?;
            Ok(("posted", Some(receipt.posting_id)))
        }
        Err(StoreError::InsufficientBalance { .. }) => Ok(("insufficient_points", None)),
        Err(StoreError::MemberInactive(_)) => Ok(("member_blocked", None)),
        Err(StoreError::OverLimit { .. }) => Ok(("bad_amount", None)),
        Err(e) => Err(e),
    }
}

async fn record_row(
    tx: &mut Tx,
    batch_id: i64,
    row_no: i64,
    outcome: &str,
    member_id: Option<i64>,
    posting_id: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE batch_rows SET outcome = $3, member_id = $4, posting_id = $5 WHERE batch_id = $1 AND row_no = $2",
    )
    .bind(batch_id)
    .bind(row_no)
    .bind(outcome)
    .bind(member_id)
    .bind(posting_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Moves a request's progress on by `decided` rows, `posted` of them posted.
async fn advance(tx: &mut Tx, batch_id: i64, decided: i64, posted: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE batch_requests SET processed_rows = processed_rows + $2, posted_rows = posted_rows + $3, \
         failed_rows = failed_rows + $2 - $3 WHERE id = $1",
    )
    .bind(batch_id)
    .bind(decided)
    .bind(posted)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Takes the request for this write when `processed` rows of it are decided and it
/// runs; a conflict when another write got there first. The update locks the row on
/// PostgreSQL, so a concurrent write waits and then finds the progress moved on.
async fn claim(tx: &mut Tx, batch_id: i64, processed: i64) -> Result<(), StoreError> {
    let claimed = sqlx::query(
        "UPDATE batch_requests SET processed_rows = processed_rows WHERE id = $1 AND state = 'running' \
         AND processed_rows = $2 RETURNING id",
    )
    .bind(batch_id)
    .bind(processed)
    .fetch_optional(tx.conn())
    .await?;
    match claimed {
        Some(_) => Ok(()),
        None => Err(StoreError::Conflict("these rows were decided already".into())),
    }
}

/// Ends a request with its answer.
async fn finish(tx: &mut Tx, batch_id: i64, answer: &Value) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE batch_requests SET state = 'done', answer = $2, finished_at = $3 WHERE id = $1 AND state = 'running'",
    )
    .bind(batch_id)
    .bind(answer.to_string())
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

impl Store {
    pub async fn batch_settings(&self, program_id: i64) -> Result<Option<BatchSettings>, StoreError> {
        let row = sqlx::query("SELECT settings FROM batch_settings WHERE program_id = $1")
            .bind(program_id)
            .fetch_optional(self.reads())
            .await?;
        row.map(|r| Ok(serde_json::from_str(&r.try_get::<String, _>(0)?)?))
            .transpose()
    }

    /// Sets the batch face's settings; `key_sha256` replaces the key when given (it must
    /// be given the first time).
    pub async fn set_batch_settings(
        &self,
        program_id: i64,
        settings: BatchSettings,
        key_sha256: Option<String>,
    ) -> Result<(), StoreError> {
        settings.validate()?;
        let json = serde_json::to_string(&settings)?;
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE batch_settings SET settings = $2, key_sha256 = COALESCE($3, key_sha256), updated_at = $4 \
                     WHERE program_id = $1",
                )
                .bind(program_id)
                .bind(&json)
                .bind(&key_sha256)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                if done.rows_affected() == 0 {
                    let key = key_sha256.ok_or(StoreError::Invalid("a new batch face needs a key".into()))?;
                    sqlx::query(
                        "INSERT INTO batch_settings (program_id, key_sha256, settings, updated_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(program_id)
                    .bind(&key)
                    .bind(&json)
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// The program whose batch key has this SHA-256, and its settings.
    pub async fn batch_program(&self, key_sha256: &str) -> Result<Option<(i64, BatchSettings)>, StoreError> {
        let row = sqlx::query("SELECT program_id, settings FROM batch_settings WHERE key_sha256 = $1")
            .bind(key_sha256)
            .fetch_optional(self.reads())
            .await?;
        row.map(|r| Ok((r.try_get(0)?, serde_json::from_str(&r.try_get::<String, _>(1)?)?)))
            .transpose()
    }

    /// Keeps a new request and (for a JSON request) its rows. A request id used before
    /// answers that request (`true`) when the content is the same, and is
    /// [`StoreError::IdempotencyMismatch`] when it is not.
    pub async fn begin_batch(&self, new: NewBatch, rows: Vec<Row>) -> Result<(BatchRequest, bool), StoreError> {
        let (program_id, request_id, fingerprint) = (new.program_id, new.request_id.clone(), new.fingerprint.clone());
        let made = self
            .write(move |tx| {
                Box::pin(async move {
                    let state = if new.file { "receiving" } else { "running" };
                    let row = sqlx::query(
                        "INSERT INTO batch_requests (program_id, request_id, kind, fingerprint, mode, description, \
                         currency_id, lifetime, source, state, total_rows, processed_rows, posted_rows, failed_rows, \
                         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0, 0, $12) RETURNING id",
                    )
                    .bind(new.program_id)
                    .bind(&new.request_id)
                    .bind(new.kind.code())
                    .bind(&new.fingerprint)
                    .bind(mode_text(new.mode))
                    .bind(&new.description)
                    .bind(new.currency_id)
                    .bind(&new.lifetime)
                    .bind(if new.file { "file" } else { "request" })
                    .bind(state)
                    .bind(rows.len() as i64)
                    .bind(tx.now)
                    .fetch_one(tx.conn())
                    .await
                    .map_err(StoreError::on_unique(StoreError::IdempotencyMismatch))?;
                    let id: i64 = row.try_get(0)?;
                    insert_rows(tx, id, 1, &rows).await?;
                    request_in(tx, id).await
                })
            })
            .await;
        match made {
            Ok(request) => Ok((request, false)),
            Err(StoreError::IdempotencyMismatch) => {
                let earlier = self.batch_request(program_id, &request_id).await?;
                if earlier.fingerprint == fingerprint {
                    Ok((earlier, true))
                } else {
                    Err(StoreError::IdempotencyMismatch)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Adds rows of a file that is arriving (numbered from `first_row_no`).
    pub async fn add_batch_rows(&self, batch_id: i64, first_row_no: i64, rows: Vec<Row>) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                insert_rows(tx, batch_id, first_row_no, &rows).await?;
                sqlx::query(
                    "UPDATE batch_requests SET total_rows = total_rows + $2 WHERE id = $1 AND state = 'receiving'",
                )
                .bind(batch_id)
                .bind(rows.len() as i64)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// A file's last row arrived: its rows may be posted. The file's `fingerprint` is
    /// known only now.
    pub async fn seal_batch(&self, batch_id: i64, fingerprint: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("UPDATE batch_requests SET state = 'running', fingerprint = $2 WHERE id = $1 AND state = 'receiving'")
                    .bind(batch_id)
                    .bind(&fingerprint)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Drops a file that could not be read whole, so its request id may be sent again.
    pub async fn drop_batch(&self, batch_id: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                for sql in [
                    "DELETE FROM batch_rows WHERE batch_id = $1",
                    "DELETE FROM batch_requests WHERE id = $1 AND state = 'receiving'",
                ] {
                    sqlx::query(sql).bind(batch_id).execute(tx.conn()).await?;
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn batch_request(&self, program_id: i64, request_id: &str) -> Result<BatchRequest, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM batch_requests WHERE program_id = $1 AND request_id = $2"
        ))
        .bind(program_id)
        .bind(request_id)
        .fetch_optional(self.reads())
        .await?;
        row.as_ref()
            .map(request_from)
            .transpose()?
            .ok_or(StoreError::NotFound("batch request"))
    }

    /// A page of the program's requests, newest first.
    pub async fn batch_requests(
        &self,
        program_id: i64,
        offset: i64,
        count: i64,
    ) -> Result<Vec<BatchRequest>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM batch_requests WHERE program_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(program_id)
        .bind(count)
        .bind(offset)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(request_from).collect()
    }

    /// What batch rows posted within `from`..`to` come to, by type and currency, in the
    /// order of the type codes.
    pub async fn batch_totals(&self, program_id: i64, from: Millis, to: Millis) -> Result<Vec<BatchTotal>, StoreError> {
        let rows = sqlx::query(
            "SELECT n.batch_type, p.currency_id, COUNT(*), CAST(SUM(p.amount) AS BIGINT) FROM posting_notes n \
             JOIN postings p ON p.id = n.posting_id WHERE p.program_id = $1 AND n.batch_type IS NOT NULL \
             AND p.created_at >= $2 AND p.created_at < $3 GROUP BY n.batch_type, p.currency_id ORDER BY 1, 2",
        )
        .bind(program_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.reads())
        .await?;
        rows.iter()
            .map(|r| {
                let code: i64 = r.try_get(0)?;
                Ok(BatchTotal {
                    kind: BatchType::from_code(code)
                        .ok_or_else(|| StoreError::Internal(format!("batch type {code}")))?,
                    currency_id: r.try_get(1)?,
                    rows: r.try_get(2)?,
                    amount: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Row-by-row requests whose rows wait to be posted, oldest first (an
    /// all-or-nothing request is posted by the call that made it).
    pub async fn running_batches(&self) -> Result<Vec<BatchRequest>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM batch_requests WHERE state = 'running' AND mode = 'row_by_row' \
             ORDER BY id LIMIT 100"
        ))
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(request_from).collect()
    }

    /// Rows of a request from `row_no` on (in order), up to `count`.
    pub async fn batch_rows(&self, batch_id: i64, from_row_no: i64, count: i64) -> Result<Vec<BatchRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM batch_rows WHERE batch_id = $1 AND row_no >= $2 ORDER BY row_no LIMIT $3"
        ))
        .bind(batch_id)
        .bind(from_row_no)
        .bind(count)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(row_from).collect()
    }

    /// Decides the next rows of a request in one write, each row posting or refused on
    /// its own.
    pub async fn post_batch_rows(
        &self,
        batch: &BatchRequest,
        decisions: Vec<(i64, Decision)>,
    ) -> Result<(), StoreError> {
        let batch = batch.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let first = decisions.first().map_or(1, |(n, _)| *n);
                claim(tx, batch.id, first - 1).await?;
                let mut posted = 0;
                for (row_no, decision) in &decisions {
                    let (outcome, member_id, posting_id) = match decision {
                        Decision::Refuse { outcome, member_id } => (*outcome, *member_id, None),
                        Decision::Post(p) => {
                            let (outcome, posting) = post_row(tx, &batch, *row_no, p).await?;
                            (outcome, Some(p.member_id), posting)
                        }
                    };
                    posted += i64::from(posting_id.is_some());
                    record_row(tx, batch.id, *row_no, outcome, member_id, posting_id).await?;
                }
                advance(tx, batch.id, decisions.len() as i64, posted).await
            })
        })
        .await
    }

    /// Ends a request whose rows are all decided with its answer.
    pub async fn finish_batch(&self, batch_id: i64, answer: Value) -> Result<(), StoreError> {
        self.write(move |tx| Box::pin(async move { finish(tx, batch_id, &answer).await }))
            .await
    }

    /// Posts every row of an all-or-nothing request in one write, or none: the first row
    /// that cannot post is returned and nothing is kept of the attempt.
    pub async fn post_batch_whole(
        &self,
        batch: &BatchRequest,
        postings: Vec<(i64, Posting)>,
        answer: Value,
    ) -> Result<Result<(), Refused>, StoreError> {
        let batch = batch.clone();
        let ran = self
            .write(move |tx| {
                Box::pin(async move {
                    claim(tx, batch.id, 0).await?;
                    for (row_no, p) in &postings {
                        let (outcome, posting_id) = post_row(tx, &batch, *row_no, p).await?;
                        if posting_id.is_none() {
                            return Err(StoreError::BatchRowRefused {
                                row_no: *row_no,
                                outcome,
                            });
                        }
                        record_row(tx, batch.id, *row_no, outcome, Some(p.member_id), posting_id).await?;
                    }
                    let n = postings.len() as i64;
                    advance(tx, batch.id, n, n).await?;
                    finish(tx, batch.id, &answer).await
                })
            })
            .await;
        match ran {
            Ok(()) => Ok(Ok(())),
            Err(StoreError::BatchRowRefused { row_no, outcome }) => Ok(Err(Refused { row_no, outcome })),
            Err(e) => Err(e),
        }
    }
}
