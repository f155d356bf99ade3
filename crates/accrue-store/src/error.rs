use accrue_core::hold::HoldError;
use accrue_core::ledger::PostingError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A registration step may be done once.
    #[error("step {0} is already done")]
    StepDone(&'static str),
    /// The member has a password already (changing it needs the old one).
    #[error("the password is already set")]
    PasswordSet,
    #[error("card {0} is blocked")]
    CardBlocked(String),
    #[error("card {0} belongs to another member")]
    CardTaken(String),
    #[error("{0}")]
    Invalid(String),
    #[error("insufficient balance: {available} available")]
    InsufficientBalance { available: i64 },
    #[error("idempotency key was already used with a different request")]
    IdempotencyMismatch,
    /// A row of an all-or-nothing batch could not post; the batch was undone.
    #[error("batch row {row_no}: {outcome}")]
    BatchRowRefused { row_no: i64, outcome: &'static str },
    #[error("member is {0}")]
    MemberInactive(&'static str),
    #[error(transparent)]
    Hold(#[from] HoldError),
    #[error(transparent)]
    Code(#[from] crate::confirmations::CodeError),
    #[error(transparent)]
    Posting(#[from] PostingError),
    /// A purchase operation refused (each face says it in its own terms).
    #[error(transparent)]
    Rejected(#[from] accrue_core::purchase::Rejection),
    /// An amount over a currency's bound (`what`: "operation" or "balance"; `limit` as a
    /// decimal).
    #[error("the amount is over the currency's limit of {limit} per {what}")]
    OverLimit { what: &'static str, limit: String },
    /// Over a rate limit; try again in this many seconds.
    #[error("rate limit reached; try again in {retry_after} s")]
    RateLimited { retry_after: i64 },
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl StoreError {
    /// Maps a unique-constraint violation to a conflict with `message`.
    pub(crate) fn unique(message: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
        StoreError::on_unique(StoreError::Conflict(message.into()))
    }

    /// Maps a unique-constraint violation to `error`; other database errors pass through.
    pub(crate) fn on_unique(error: StoreError) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => error,
            _ => StoreError::Database(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    /// Values a database refuses are the caller's mistake, whichever backend it is:
    /// text with NUL characters (PostgreSQL stores none) and numbers out of range.
    fn from(e: sqlx::Error) -> Self {
        let code = match &e {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        };
        match code.as_deref() {
            Some("22021" | "22P05") => StoreError::Invalid("text must not contain NUL characters".into()),
            Some("22003") => StoreError::Invalid("a number is out of range".into()),
            _ => StoreError::Database(e),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("stored JSON is unreadable: {e}"))
    }
}
