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
    #[error("member is {0}")]
    MemberInactive(&'static str),
    #[error(transparent)]
    Hold(#[from] HoldError),
    #[error(transparent)]
    Code(#[from] crate::confirmations::CodeError),
    #[error(transparent)]
    Posting(#[from] PostingError),
    /// A purchase operation refused with a processing code.
    #[error(transparent)]
    Refused(#[from] accrue_core::purchase::Refusal),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
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

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("stored JSON is unreadable: {e}"))
    }
}
