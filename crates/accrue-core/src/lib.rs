//! The pure domain of Accrue: no IO, no async, no HTTP types.
//!
//! Everything here takes its inputs (including the current time and randomness) as
//! arguments, so it can be tested exhaustively and reused by every face.

pub mod batch;
pub mod csv;
pub mod events;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod hold;
pub mod idempotency;
pub mod integra;
pub mod ledger;
pub mod lifetimes;
pub mod lots;
pub mod member;
pub mod merchant;
pub mod messages;
pub mod money;
pub mod mustache;
pub mod offers;
pub mod outbox;
pub mod purchase;
pub mod questionnaire;
pub mod redact;
pub mod referral;
pub mod registration;
pub mod signature;
pub mod status;
pub mod subscriptions;
pub mod template;
pub mod tracker;

/// Milliseconds since the Unix epoch, UTC. The one time type of the core.
pub type Millis = i64;
